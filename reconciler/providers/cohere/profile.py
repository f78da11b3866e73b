"""Cohere's profile: every fact of Cohere the reconciler needs outside its adapter.

Cohere trains fine-tuned models from datasets uploaded to its Datasets API (CONTRACTS.md §C).
A model keeps its name, so it carries the owner in it; a dataset name must stay under 50
characters, which leaves room for the bare marker only. A model's settings name the dataset
by id, whose form Cohere does not document (its examples look like ``<slug of the name>-<6
chars>``): the adapter maps ids to names through the dataset list, and never reads the id.
Which dataset types each base type trains on, and the file extensions each type is uploaded
as, are written here once. A W&B key, when a spec sets ``wandb``, comes from ``WANDB_API_KEY``.
Cohere deprecated its fine-tuning API on 2025-09-15; support stays complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.core.marker import Marker
from reconciler.core.observed import Health, ObservedJob
from reconciler.core.plan import DeleteMethod
from reconciler.core.spec import DatasetRef
from reconciler.naming import MARKER_LENGTH, parse_marker
from reconciler.providers.profile import (
    Capabilities,
    DatasetForms,
    DeleteStep,
    FieldProblem,
    ImportedFields,
    NotImportable,
    ProviderProfile,
    SpecFields,
    live_state,
)

# Cohere documents dataset names as "<50 chars"; the name we give is the bare marker.
COHERE_DATASET_NAME_MAX = 49
COHERE_MAX_NAME_LENGTH = COHERE_DATASET_NAME_MAX - MARKER_LENGTH  # 34

# The Datasets API types a fine-tune trains on.
CHAT = "chat-finetune-input"
SINGLE_LABEL = "single-label-classification-finetune-input"
MULTI_LABEL = "multi-label-classification-finetune-input"
RERANK = "reranker-finetune-input"
COHERE_FINETUNE_TYPES = (CHAT, SINGLE_LABEL, MULTI_LABEL, RERANK)
# Which dataset types fit each base type; the first is the one used when a spec sets none.
TYPES_BY_BASE_TYPE: Mapping[str, tuple[str, ...]] = {
    "BASE_TYPE_CHAT": (CHAT,),
    "BASE_TYPE_CLASSIFICATION": (SINGLE_LABEL, MULTI_LABEL),
    "BASE_TYPE_RERANK": (RERANK,),
}
# File extensions each dataset type can be uploaded as.
EXTENSIONS_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    CHAT: (".jsonl",),
    SINGLE_LABEL: (".csv", ".jsonl"),
    MULTI_LABEL: (".jsonl",),
    RERANK: (".jsonl",),
}
# The dataset type of a file when neither the spec nor its base type says.
TYPE_BY_SUFFIX: Mapping[str, str] = {".jsonl": CHAT, ".csv": SINGLE_LABEL}

_HEALTH: Mapping[str, Health] = {
    "QUEUED": Health.PENDING,
    "PAUSED": Health.PENDING,  # deprecated: training waits to be resumed
    "FINETUNING": Health.PROGRESSING,
    "DEPLOYING_API": Health.PROGRESSING,  # deprecated
    "READY": Health.HEALTHY,
    "FAILED": Health.DEGRADED,
    "TEMPORARILY_OFFLINE": Health.DEGRADED,  # deprecated: trained but not serving
    "DELETED": Health.MISSING,
}

# Cohere validates an upload in seconds to minutes; asking every two seconds (as its SDK's
# co.wait() does) sees it soon after, without a burst of requests per dataset.
DEFAULT_VALIDATION_POLL = 2.0
# The quickest look at a dataset's validation under ``--sandbox``, in real seconds.
SANDBOX_MIN_POLL = 0.05
# The name of the W&B key among the keys Cohere is handed (ProviderSettings.service_keys).
WANDB_KEY = "wandb"


@dataclass(frozen=True)
class CohereOptions:
    """``providers.cohere`` in ``reconciler.yaml``: seconds between looks at an uploaded
    dataset's validation status (``validation_poll``)."""

    validation_poll: float = DEFAULT_VALIDATION_POLL


def _read_options(section: Mapping[str, Any]) -> CohereOptions:
    return CohereOptions(
        validation_poll=float(section.get("validation_poll", DEFAULT_VALIDATION_POLL))
    )


def _options_under_sandbox(options: CohereOptions, speed: float) -> CohereOptions:
    # The sandbox's clock runs `speed` times faster: so does the poll.
    return replace(options, validation_poll=max(SANDBOX_MIN_POLL, options.validation_poll / speed))


def cohere_health(status: str | None, model_status: str | None = None) -> Health:
    """Health of a Cohere fine-tuned model from its ``status`` (``STATUS_READY`` etc.); Cohere
    has no separate model list, so ``model_status`` plays no part."""
    normalised = (status or "").strip().upper().removeprefix("STATUS_")
    return _HEALTH.get(normalised, Health.UNKNOWN)


def cohere_dataset_type(path: Path, dataset_type: str | None) -> str | None:
    """The Datasets API type of a file: as given, or inferred from its extension."""
    if dataset_type is not None:
        return dataset_type
    return TYPE_BY_SUFFIX.get(path.suffix.lower())


def parse_cohere_dataset_name(name: str) -> Marker | None:
    """The marker in a Cohere dataset's ``name`` (the bare marker)."""
    return parse_marker(name)


def _marker_in_dataset_ref(ref: str, job_name: str | None) -> None:
    # A dataset id's form is not documented (a UUID is as likely as the examples' slug): the
    # marker comes from the dataset's name in the list, never from the id.
    return None


def _spec_fields(
    document: Mapping[str, Any], dataset: DatasetRef, options: CohereOptions
) -> SpecFields | list[FieldProblem]:
    """The dataset type: the spec's, else the base type's first; a local file must have an
    extension that type is uploaded as. (That the spec's type fits its base type, the schema
    checks, in editors too; tests/unit/specs/test_schemas.py keeps it to TYPES_BY_BASE_TYPE.)"""
    base_type = document["base_model"]["base_type"]
    fitting = TYPES_BY_BASE_TYPE.get(base_type)
    dataset_type = document.get("dataset_type") or (fitting[0] if fitting else None)
    # The schema checks the extension of the path as written; this checks the file it leads
    # to, which a symlink (`chat.jsonl -> data.csv`) may name otherwise.
    if dataset_type is not None and dataset.is_local:
        suffix = dataset.path.suffix.lower()
        allowed = EXTENSIONS_BY_TYPE[dataset_type]
        if suffix not in allowed:
            return [
                FieldProblem(
                    ("dataset",),
                    f"{base_type} trains on {dataset_type} data, which is uploaded as"
                    f" {' or '.join(allowed)}; `{document['dataset']}` is a {suffix} file",
                )
            ]
    return SpecFields({"dataset_type": dataset_type})


def _plan_delete(job: ObservedJob) -> DeleteStep:
    return DeleteStep(DeleteMethod.DELETE_MODEL, job.remote_id)


def _import_fields(job: ObservedJob) -> ImportedFields | NotImportable:
    if not job.base_type:
        return NotImportable("the list shows no base_model.base_type for it")
    base_model: dict[str, Any] = {"base_type": job.base_type}
    if job.base_model:
        base_model["name"] = job.base_model
    fields: dict[str, Any] = {"base_model": base_model, "dataset": {"id": job.dataset_ref}}
    if job.wandb and job.wandb.get("project"):
        fields["wandb"] = {k: job.wandb[k] for k in ("project", "entity") if job.wandb.get(k)}
    return ImportedFields(fields, job.parameters)


COHERE: ProviderProfile[CohereOptions] = ProviderProfile(
    name="cohere",
    title="Cohere",
    default_base_url="https://api.cohere.com",
    base_url_variable="COHERE_BASE_URL",
    key_variables=("COHERE_API_KEY", "CO_API_KEY"),
    service_key_variables={WANDB_KEY: "WANDB_API_KEY"},
    read_options=_read_options,
    options_under_sandbox=_options_under_sandbox,
    max_name_length=COHERE_MAX_NAME_LENGTH,
    datasets=DatasetForms(
        folder=False,
        file_suffixes=(".jsonl", ".csv"),
        takes=(
            "Cohere takes a .jsonl (chat, rerank) or .csv (classification) file, or {id: ...}"
            " of an uploaded dataset"
        ),
    ),
    spec_fields=_spec_fields,
    owner_in_dataset_name=False,
    dataset_name_is_file_name=False,
    marker_in_dataset_ref=_marker_in_dataset_ref,
    health=cohere_health,
    decision_state=live_state,
    capabilities=Capabilities(updates_access=False, deletes_jobs=True, validates_datasets=True),
    plan_delete=_plan_delete,
    name_for_nameless_job=None,
    import_fields=_import_fields,
)
