"""Qubrid's profile: every fact of Qubrid the reconciler needs outside its adapter.

Qubrid fine-tunes LLMs from CSV files (CONTRACTS.md §B). Its jobs have no name: the spec name
(and the owner) travel in the name of the dataset we upload, ``<marker>.csv``, which the plan
reads from the dataset list, and in the create's ``suffix``. A job is deleted by cancelling it
while it is queued or running, or by deleting its model once it completed; a completed job's
health also depends on its model (a deleted model is a deleted job).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.marker import Marker
from reconciler.core.observed import Health, ObservedJob
from reconciler.core.plan import DeleteMethod
from reconciler.core.spec import DatasetRef
from reconciler.naming import MARKER_LENGTH, marker_for, parse_marker
from reconciler.providers.profile import (
    Capabilities,
    DatasetForms,
    DeleteStep,
    ImportedFields,
    NoDelete,
    NotImportable,
    ProviderProfile,
    SpecFields,
    same_options,
)

# Qubrid documents `suffix` as at most 64 characters; we send the marker as the suffix.
QUBRID_SUFFIX_MAX = 64
QUBRID_MAX_NAME_LENGTH = QUBRID_SUFFIX_MAX - MARKER_LENGTH  # 49

# Qubrid documents no CSV columns; this is our convention (docs/specs.md, docs/datasets.md).
QUBRID_DEFAULT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "qa": ("question", "answer"),
    "not_qa": ("text",),
}

# Qubrid cancels a job as its form of deletion; a cancelled job trained nothing and counts as
# gone, like a deleted one.
_JOB_HEALTH: Mapping[str, Health] = {
    "queued": Health.PENDING,
    "running": Health.PROGRESSING,
    "completed": Health.HEALTHY,
    "failed": Health.DEGRADED,
    "cancelled": Health.MISSING,
}
_MODEL_HEALTH: Mapping[str, Health] = {
    "available": Health.HEALTHY,
    "deploying": Health.PROGRESSING,
    "deleted": Health.MISSING,
}
# The statuses of a job that is cancelled rather than deleted.
_CANCELLABLE = ("queued", "running")


@dataclass(frozen=True)
class QubridOptions:
    """``providers.qubrid`` in ``reconciler.yaml``: the CSV columns each task type needs when a
    spec does not say (``csv_columns``)."""

    csv_columns: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(QUBRID_DEFAULT_COLUMNS)
    )


def _read_options(section: Mapping[str, Any]) -> QubridOptions:
    columns = dict(QUBRID_DEFAULT_COLUMNS)
    for task, written in section.get("csv_columns", {}).items():
        columns[task] = tuple(written)
    return QubridOptions(csv_columns=columns)


def qubrid_health(status: str | None, model_status: str | None = None) -> Health:
    """Health of a Qubrid job from its ``status``, refined by its fine-tuned model's status
    (from the models list) once the job has completed: a deleted model is a deleted job."""
    job_health = _JOB_HEALTH.get((status or "").strip().lower(), Health.UNKNOWN)
    if job_health is not Health.HEALTHY or model_status is None:
        return job_health
    return _MODEL_HEALTH.get(model_status.strip().lower(), Health.UNKNOWN)


def qubrid_suffix(name: str, fingerprint: str | None) -> str:
    """The ``suffix`` a Qubrid create sends: the marker, or the bare name without a local
    dataset (``{id: ...}``), so the fine-tuned model's name still says where it came from."""
    return str(marker_for(name, fingerprint)) if fingerprint else name


def parse_qubrid_dataset_name(name: str) -> Marker | None:
    """The marker in a Qubrid dataset's ``name`` (``<marker>.csv``)."""
    return parse_marker(name)


def _marker_in_dataset_ref(ref: str, job_name: str | None) -> None:
    # A Qubrid dataset id carries nothing: dataset names come from the dataset list.
    return None


def derived_qubrid_name(job_id: str) -> str:
    """``qubrid-<job id>`` made a valid Qubrid spec name: lower case, runs of other characters
    turned into one hyphen, cut to the Qubrid length limit."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"qubrid-{job_id}".lower()).strip("-")
    return slug[:QUBRID_MAX_NAME_LENGTH].rstrip("-")


def _spec_fields(
    document: Mapping[str, Any], dataset: DatasetRef, options: QubridOptions
) -> SpecFields:
    written = document.get("csv_columns")
    columns = tuple(written) if written else options.csv_columns.get(document["task_type"], ())
    return SpecFields({"csv_columns": columns})


def _decision_state(job: ObservedJob) -> str:
    # Whether a job is cancelled or its model deleted depends on its status (``_plan_delete``).
    status = job.raw_status.strip().lower()
    return "active" if status in _CANCELLABLE else status


def _plan_delete(job: ObservedJob) -> DeleteStep | NoDelete | None:
    status = job.raw_status.strip().lower()
    if status in _CANCELLABLE:
        return DeleteStep(DeleteMethod.CANCEL_JOB, job.remote_id)
    if status == "failed":
        return None
    if status == "completed" and job.model_id:
        return DeleteStep(DeleteMethod.DELETE_MODEL, job.model_id)
    return NoDelete(
        f"no spec names it, but Qubrid shows status {job.raw_status!r} and no model to delete",
        "cancel or delete it in the Qubrid console if it is no longer wanted",
    )


def _import_fields(job: ObservedJob) -> ImportedFields | NotImportable:
    if not job.base_model:
        return NotImportable("the list shows no base model for it")
    if not job.task_type:
        return NotImportable("the list shows no task_type (qa or not_qa) for it")
    return ImportedFields(
        {
            "base_model": job.base_model,
            "dataset": {"id": job.dataset_ref},
            "task_type": job.task_type,
        },
        job.parameters,
    )


QUBRID: ProviderProfile[QubridOptions] = ProviderProfile(
    name="qubrid",
    title="Qubrid",
    default_base_url="https://platform.qubrid.com/api/v1",
    base_url_variable="QUBRID_BASE_URL",
    key_variables=("QUBRID_API_KEY",),
    service_key_variables={},
    read_options=_read_options,
    options_under_sandbox=same_options,
    max_name_length=QUBRID_MAX_NAME_LENGTH,
    datasets=DatasetForms(
        folder=False,
        file_suffixes=(".csv",),
        takes="Qubrid takes a .csv file or {id: ...} of an uploaded dataset",
    ),
    spec_fields=_spec_fields,
    owner_in_dataset_name=True,
    dataset_name_is_file_name=True,
    marker_in_dataset_ref=_marker_in_dataset_ref,
    health=qubrid_health,
    decision_state=_decision_state,
    capabilities=Capabilities(updates_access=False, deletes_jobs=True),
    plan_delete=_plan_delete,
    name_for_nameless_job=derived_qubrid_name,
    import_fields=_import_fields,
)
