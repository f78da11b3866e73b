"""One remote job -> the fields of the spec that adopts it (``spec_document``), or why none can.

Only what the provider's list reveals is written, exactly as the list shows it, in a fixed
order (``FIELD_ORDER``). Fields the schema requires but a list never shows (Segmind's trigger
word) get a placeholder, and a note the file's header carries; the diff does not compare
those fields, so the placeholder makes no change. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.observed import ObservedJob
from reconciler.core.spec import Provider
from reconciler.naming import is_valid_name
from reconciler.providers.profile import NotImportable
from reconciler.providers.profiles import PROFILES

# The order fields are written in: identity first, then what the job trains on and with.
FIELD_ORDER = (
    "apiVersion",
    "kind",
    "name",
    "provider",
    "adopt",
    "base_model",
    "dataset",
    "access",
    "trigger_word",
    "instance_prompt",
    "theme",
    "machine_type",
    "train_type",
    "task_type",
    "wandb",
    "parameters",
)
# Fields that may be left out when the remote value is not valid in a spec: the diff compares
# only what a spec sets, so leaving one out never shows a change.
OPTIONAL_FIELDS = frozenset(
    {"access", "theme", "machine_type", "train_type", "wandb", "parameters"}
)


@dataclass(frozen=True)
class ImportedSpec:
    """One spec to write: the job it adopts and its fields in writing order. ``notes`` say
    what the file's reader must know (placeholders, fields left out), one sentence each."""

    provider: Provider
    name: str
    remote_id: str
    raw_status: str
    document: Mapping[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedJob:
    """A remote job that is not imported, and why (in words for the user)."""

    provider: Provider
    remote_id: str
    name: str | None
    reason: str

    def __str__(self) -> str:
        called = f" ({self.name})" if self.name else ""
        return f"{self.provider} job {self.remote_id}{called}: {self.reason}"


def spec_document(job: ObservedJob) -> ImportedSpec | SkippedJob:
    """The spec fields that adopt ``job``, exactly as its list shows them, or why none can.

    ``job.name`` must be set (``select_jobs`` names Qubrid jobs)."""
    name = job.name or ""

    def skip(reason: str) -> SkippedJob:
        return SkippedJob(job.provider, job.remote_id, job.name, reason)

    profile = PROFILES[job.provider]
    limit = profile.max_name_length
    if not is_valid_name(name) or len(name) > limit:
        return skip(
            f"its name `{name}` is not a valid {job.provider} spec name (1–{limit} lower-case"
            " letters and digits in runs joined by single hyphens), and a spec pairs with a"
            " job by its exact name; rename the job on the provider, or leave it unmanaged"
        )
    if not job.dataset_ref:
        return skip("the list shows no dataset for it")
    imported = profile.import_fields(job)
    if isinstance(imported, NotImportable):
        return skip(imported.reason)
    document: dict[str, Any] = {
        "apiVersion": "reconciler/v1",
        "kind": "FineTune",
        "name": name,
        "provider": job.provider,
    }
    if job.owner is None:
        # Made before the repository had an owner, or outside reconcile: adopting it is said.
        document["adopt"] = [job.remote_id]
    document.update(imported.fields)
    _add_parameters(document, imported.parameters)
    return _imported(job, document, imported.notes)


def _add_parameters(document: dict[str, Any], parameters: Mapping[str, Any] | None) -> None:
    # Sorted: a provider's JSON key order is no promise, and a re-import should diff cleanly.
    given = parameters or {}
    kept = {key: given[key] for key in sorted(given) if given[key] is not None}
    if kept:
        document["parameters"] = kept


def _imported(job: ObservedJob, document: dict[str, Any], notes: tuple[str, ...]) -> ImportedSpec:
    ordered = {key: document[key] for key in FIELD_ORDER if key in document}
    return ImportedSpec(
        provider=job.provider,
        name=job.name or "",
        remote_id=job.remote_id,
        raw_status=job.raw_status,
        document=ordered,
        notes=notes,
    )
