"""Comparison: the fields of a spec that differ from what a provider's list shows of its job.

Only fields the spec sets and the list reveals are compared (a default the provider fills in is
not drift), after normalising both sides (``normalise_value``): numbers by value, booleans
whatever their spelling, URLs without their query, enum-like words without case. The dataset
compares by its content fingerprint (through the ownership marker), its URL or its id. Each
difference is a ``FieldChange`` with both sides as JSON values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from reconciler.core.observed import ObservedJob
from reconciler.core.plan import FieldChange
from reconciler.core.spec import DatasetKind, DesiredJob
from reconciler.naming import FINGERPRINT_CHARS
from reconciler.planfile import to_json_value
from reconciler.redact import strip_url_secrets

COMPARED_FIELDS = (
    "base_model",
    "base_type",
    "task_type",
    "theme",
    "train_type",
    "machine_type",
    "trigger_word",
    "instance_prompt",
    "access",
)
# Required fields are compared even if a spec loader left them out of ``set_fields``.
_ALWAYS_COMPARED = frozenset({"base_model", "base_type"})

_IDENTIFIER = re.compile(r"[A-Za-z0-9_]+")


def normalise_value(value: Any, *, free_text: bool = False) -> Any:
    """A comparable form of a spec or remote value.

    Numbers compare by value (1 == 1.0 == "1"); "True"/"false" are booleans; URLs lose their
    query and trailing slash; identifier-like strings (enum values) ignore case unless
    ``free_text`` (prompts, trigger words); mappings and sequences compare element-wise.
    """
    if value is None:
        return value
    if isinstance(value, bool):
        # Tagged: True == 1.0 in Python, but a flag and a number are different settings.
        return ("bool", value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return ("bool", text.lower() == "true")
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
        if text.startswith(("http://", "https://")):
            return strip_url_secrets(text).rstrip("/")
        if not free_text and _IDENTIFIER.fullmatch(text):
            return text.casefold()
        return text
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), normalise_value(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(normalise_value(v) for v in value)
    return value


def _is_free_text(key: str) -> bool:
    return "prompt" in key or key == "trigger_word"


def _same(desired: Any, remote: Any, key: str) -> bool:
    free_text = _is_free_text(key)
    wanted = normalise_value(desired, free_text=free_text)
    return bool(wanted == normalise_value(remote, free_text=free_text))


def compare_job(desired: DesiredJob, job: ObservedJob) -> tuple[FieldChange, ...]:
    """The compared fields that differ: set by the spec, revealed by the list, unequal."""
    spec = desired.spec
    changes = []
    dataset = _dataset_change(desired, job)
    if dataset is not None:
        changes.append(dataset)
    for name in COMPARED_FIELDS:
        wanted = getattr(spec, name)
        seen = getattr(job, name)
        # An empty value leaves the choice to the provider (a Cohere spec may omit
        # base_model.name, as Cohere's own examples do): whatever the remote chose is not drift.
        if wanted is None or wanted == "" or seen is None:
            continue
        if name not in spec.set_fields and name not in _ALWAYS_COMPARED:
            continue
        if not _same(wanted, seen, name):
            changes.append(FieldChange(name, to_json_value(seen), to_json_value(wanted)))
    if spec.wandb is not None and job.wandb is not None:
        for key in sorted(spec.wandb):
            if key in job.wandb and not _same(spec.wandb[key], job.wandb[key], key):
                changes.append(FieldChange(f"wandb.{key}", job.wandb[key], spec.wandb[key]))
    if job.parameters is not None:
        for key in sorted(spec.parameters):
            if key in job.parameters and not _same(spec.parameters[key], job.parameters[key], key):
                changes.append(
                    FieldChange(
                        f"parameters.{key}",
                        to_json_value(job.parameters[key]),
                        to_json_value(spec.parameters[key]),
                    )
                )
    return tuple(changes)


def _dataset_change(desired: DesiredJob, job: ObservedJob) -> FieldChange | None:
    dataset = desired.spec.dataset
    if dataset.is_local:
        fingerprint = desired.dataset_fingerprint
        if fingerprint is None or (job.marker is None and job.dataset_ref is None):
            return None
        wanted = fingerprint[:FINGERPRINT_CHARS]
        if job.marker is not None and job.marker.fingerprint12 == wanted:
            return None
        seen = job.marker.fingerprint12 if job.marker else job.dataset_ref
        return FieldChange("dataset", seen, wanted)
    if job.dataset_ref is None:
        return None
    if dataset.kind is DatasetKind.URL:
        if _same(dataset.value, job.dataset_ref, "dataset"):
            return None
        return FieldChange("dataset", job.dataset_ref, strip_url_secrets(dataset.value))
    if dataset.value == job.dataset_ref:
        return None
    return FieldChange("dataset", job.dataset_ref, dataset.value)
