"""Segmind's profile: every fact of Segmind the reconciler needs outside its adapter.

Segmind fine-tunes image models (CONTRACTS.md §A). A job keeps its name, so it carries the owner
in it; its dataset is a zip we upload through a pre-signed URL, stored at
``uploads/<user>/<file id>-<file name>``, and the job's ``data_source_path`` is that file's URL,
so the marker is read from the URL. Only a job's access (public or private) can change after it
is submitted, and Segmind has no delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.core.marker import Marker
from reconciler.core.observed import Health, ObservedJob
from reconciler.core.spec import DatasetRef
from reconciler.naming import marker_in_stored_file_url
from reconciler.providers.profile import (
    Capabilities,
    DatasetForms,
    FieldProblem,
    ImportedFields,
    NoDelete,
    NotImportable,
    ProviderProfile,
    SpecFields,
    live_state,
    same_options,
)
from reconciler.redact import strip_url_secrets

# Segmind documents no limit on job or file names; 64 (80 with the owner) keeps the job name and
# the uploaded file name (the marker plus ".zip") short and URL-safe.
SEGMIND_MAX_NAME_LENGTH = 64

# Segmind's full enum is not documented; these are the values seen in its docs and webhooks.
_HEALTH: Mapping[str, Health] = {
    "REQUESTED": Health.PENDING,
    "QUEUED": Health.PENDING,
    "DATA_PROCESSING": Health.PROGRESSING,
    "TRAINING_INITIATED": Health.PROGRESSING,
    "TRAINING_COMPLETED": Health.PROGRESSING,
    "RETRIED": Health.PROGRESSING,
    "DEPLOYING": Health.PROGRESSING,
    "INFERENCE_QUEUED": Health.PROGRESSING,
    "AVAILABLE": Health.HEALTHY,
    "FAILED": Health.DEGRADED,
}

# Segmind's documented list sample echoes the instance prompt and the theme inside
# ``advance_parameters``; they are the job's own fields, not training parameters.
SEGMIND_ECHOED_PARAMETERS = ("prompt", "theme")
# Segmind's default trigger word for FLUX_PRO (documented); the placeholder elsewhere.
SEGMIND_PLACEHOLDER_TRIGGER = "TOK"
SEGMIND_PLACEHOLDER_PROMPT = "photo of TOK"

# What a submit sends for a field its spec leaves out, per base model, where the documents
# settle it: the QWEN example (S0) sends theme "QWEN", machine_type "NVIDIA_H100" (its only
# option) and train_type "LORA"; the FLUX document (DOC-FLUX) theme "FLUX" and LORA, and the
# official SDK requires machine_type and train_type. The FAST_FLUX example (S1) sends theme
# "subject" and neither of the others; FLUX_PRO's theme (S2) is a choice of concept with no
# documented default, so nothing is sent for it.
SEGMIND_SUBMIT_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "QWEN": {"theme": "QWEN", "machine_type": "NVIDIA_H100", "train_type": "LORA"},
    "FLUX": {"theme": "FLUX", "train_type": "LORA"},
    "FAST_FLUX": {"theme": "subject"},
    "FLUX_PRO": {},
}
# FLUX trains on any of three machines and the documents name no default: the machine is the
# GPU the user pays for, so a FLUX spec names it (a Kontext edit trains on the H100 only).
FLUX_MACHINES = ("NVIDIA_A100_40GB", "NVIDIA_H100", "NVIDIA_L40S")
KONTEXT_MACHINE = "NVIDIA_H100"


@dataclass(frozen=True)
class SegmindOptions:
    """``providers.segmind`` in ``reconciler.yaml``: ``access`` for specs that do not set it."""

    access: Literal["private", "public"] | None = None


def _read_options(section: Mapping[str, Any]) -> SegmindOptions:
    return SegmindOptions(access=section.get("access"))


def segmind_health(status: str | None, model_status: str | None = None) -> Health:
    """Health of a Segmind job from its ``status`` (REQUESTED ... AVAILABLE, FAILED); Segmind
    has no model list, so ``model_status`` plays no part."""
    return _HEALTH.get((status or "").strip().upper(), Health.UNKNOWN)


def parse_segmind_dataset_url(url: str, job_name: str) -> Marker | None:
    """The marker for the job whose remote name is ``job_name`` in a Segmind
    ``data_source_path`` or ``s3_url``: the object key ends in ``<file id>-<file name>``, and
    the file id's format is not documented."""
    return marker_in_stored_file_url(url, job_name)


def _marker_in_dataset_ref(ref: str, job_name: str | None) -> Marker | None:
    return parse_segmind_dataset_url(ref, job_name) if job_name else None


def _spec_fields(
    document: Mapping[str, Any], dataset: DatasetRef, options: SegmindOptions
) -> SpecFields | list[FieldProblem]:
    # FLUX (not Kontext) without a machine_type is refused by the schema, which says so in
    # editors too (tests/unit/specs/test_schemas.py keeps its list of machines FLUX_MACHINES).
    flux = str(document.get("base_model", "")).upper() == "FLUX"
    kontext = str(document.get("theme") or "").upper() == "KONTEXT"
    values: dict[str, Any] = {}
    set_fields: set[str] = set()
    if flux and kontext and document.get("machine_type") is None:
        values["machine_type"] = KONTEXT_MACHINE  # its only machine (DOC-KTX)
    if document.get("access") is None and options.access is not None:
        # A repository-wide default is intent too: drift from it is reported.
        values["access"] = options.access
        set_fields.add("access")
    return SpecFields(values, frozenset(set_fields))


def _plan_delete(job: ObservedJob) -> NoDelete:
    return NoDelete(
        "no spec names it, but Segmind has no delete endpoint",
        "delete it in the Segmind console if it is no longer wanted",
    )


def _import_fields(job: ObservedJob) -> ImportedFields | NotImportable:
    if not job.base_model:
        return NotImportable("the list shows no base model for it")
    notes: list[str] = []
    fields: dict[str, Any] = {"base_model": job.base_model}
    parameters = dict(job.parameters or {})
    echoed_prompt = parameters.get("prompt")
    for key in SEGMIND_ECHOED_PARAMETERS:
        parameters.pop(key, None)
    kontext = (job.theme or "").upper() == "KONTEXT"
    # Never a pre-signed signature: the URL without its query (ObservedJob strips it too).
    fields["dataset"] = {"url": strip_url_secrets(job.dataset_ref or "")}
    if job.access is not None:
        fields["access"] = job.access
    if job.base_model.upper() not in ("FLUX_PRO",) and not kontext:
        fields["trigger_word"] = SEGMIND_PLACEHOLDER_TRIGGER
        notes.append(
            f"trigger_word: Segmind's job list does not show it; {SEGMIND_PLACEHOLDER_TRIGGER}"
            " is a placeholder. Set the word the job was trained with before a retrain; it is"
            " not compared with the remote job."
        )
    if isinstance(echoed_prompt, str) and echoed_prompt.strip():
        fields["instance_prompt"] = echoed_prompt
    else:
        fields["instance_prompt"] = SEGMIND_PLACEHOLDER_PROMPT
        notes.append(
            "instance_prompt: Segmind's job list does not show it for this job;"
            f" `{SEGMIND_PLACEHOLDER_PROMPT}` is a placeholder. Set the job's prompt before a"
            " retrain; it is not compared with the remote job."
        )
    if job.theme is not None:
        fields["theme"] = job.theme
    if job.train_type is not None:
        fields["train_type"] = job.train_type
    if job.base_model.upper() == "FLUX" and not kontext:
        placeholder = job.machine_type or FLUX_MACHINES[0]
        fields["machine_type"] = placeholder
        if job.machine_type is None:
            notes.append(
                f"machine_type: Segmind's job list does not show it; {placeholder} is a"
                " placeholder. Set the machine the job trained on before a retrain (it is the"
                " GPU a retrain pays for); it is not compared with the remote job."
            )
    return ImportedFields(fields, parameters, tuple(notes))


SEGMIND: ProviderProfile[SegmindOptions] = ProviderProfile(
    name="segmind",
    title="Segmind",
    default_base_url="https://api.segmind.com",
    base_url_variable="SEGMIND_BASE_URL",
    key_variables=("SEGMIND_API_KEY",),
    service_key_variables={},
    read_options=_read_options,
    options_under_sandbox=same_options,
    max_name_length=SEGMIND_MAX_NAME_LENGTH,
    datasets=DatasetForms(
        folder=True,
        file_suffixes=(".zip",),
        takes="Segmind takes a folder of images, a .zip of images or {url: https://...}",
    ),
    spec_fields=_spec_fields,
    owner_in_dataset_name=True,
    dataset_name_is_file_name=True,
    marker_in_dataset_ref=_marker_in_dataset_ref,
    health=segmind_health,
    decision_state=live_state,
    capabilities=Capabilities(
        updates_access=True,
        deletes_jobs=False,
        mutable_fields=frozenset({"access"}),
        reads_outputs=True,  # the slug is in the details only
    ),
    plan_delete=_plan_delete,
    name_for_nameless_job=None,
    import_fields=_import_fields,
)
