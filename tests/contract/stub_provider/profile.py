"""The stub provider's profile: every fact of it the reconciler needs outside its adapter, as a
real provider's ``reconciler/providers/<name>/profile.py`` holds them.

Its jobs keep their name, so they carry the owner in it (``<owner>--<spec name>``). A dataset
we upload is listed under its marker with the owner (``<owner>--<name>-rc<fingerprint>``), and
the stub makes the dataset's id of that name and six characters of its own, as Cohere does: a
job's dataset identifies its spec from the dataset list and from the job alone. A job's access
flips in place; the stub has no delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from reconciler.core.marker import Marker
from reconciler.core.observed import Health, ObservedJob
from reconciler.core.spec import DatasetRef, Provider
from reconciler.naming import MARKER_LENGTH, OWNER_MAX_LENGTH, OWNER_SEPARATOR, marker_in_id
from reconciler.providers.profile import (
    Capabilities,
    DatasetForms,
    ImportedFields,
    NoDelete,
    NotImportable,
    ProviderProfile,
    SpecFields,
    live_state,
    same_options,
)

# `Provider` is the Literal of the real providers' names, which the type checker holds every
# spec, job and profile to. A real fourth provider adds its name there (`reconciler/core/
# spec.py`, with `PROVIDERS`), and joins the few other lists docs/adding-a-provider.md names;
# a provider that lives only in the tests can join none of them, so its name is cast.
STUB: Provider = cast(Provider, "stub")

# The stub stores dataset names of at most 64 characters; ours hold the owner, the spec name and
# the marker's tail.
STUB_DATASET_NAME_MAX = 64
STUB_MAX_NAME_LENGTH = (
    STUB_DATASET_NAME_MAX - OWNER_MAX_LENGTH - len(OWNER_SEPARATOR) - MARKER_LENGTH
)  # 31
# What the stub appends to a dataset's name to make its id.
DATASET_ID_SUFFIX_CHARS = 6

# A job's statuses, in the order it goes through them, and what each means.
STUB_HEALTH: Mapping[str, Health] = {
    "QUEUED": Health.PENDING,
    "TRAINING": Health.PROGRESSING,
    "READY": Health.HEALTHY,
    "FAILED": Health.DEGRADED,
}


@dataclass(frozen=True)
class StubOptions:
    """``providers.stub`` in ``reconciler.yaml``: the stub has no settings of its own."""


def _read_options(section: Mapping[str, Any]) -> StubOptions:
    return StubOptions()


def stub_health(status: str | None, model_status: str | None = None) -> Health:
    """Health of a stub job from its status; the stub has no model list."""
    return STUB_HEALTH.get((status or "").strip().upper(), Health.UNKNOWN)


def _marker_in_dataset_ref(ref: str, job_name: str | None) -> Marker | None:
    return marker_in_id(ref, DATASET_ID_SUFFIX_CHARS)


def _spec_fields(
    document: Mapping[str, Any], dataset: DatasetRef, options: StubOptions
) -> SpecFields:
    return SpecFields()


def _plan_delete(job: ObservedJob) -> NoDelete:
    return NoDelete(
        "no spec names it, but the stub provider has no delete",
        "delete it by hand if it is no longer wanted",
    )


def _import_fields(job: ObservedJob) -> ImportedFields | NotImportable:
    if not job.base_model:
        return NotImportable("the list shows no base model for it")
    fields: dict[str, Any] = {"base_model": job.base_model, "dataset": {"id": job.dataset_ref}}
    if job.access is not None:
        fields["access"] = job.access
    return ImportedFields(fields, job.parameters)


STUB_PROFILE: ProviderProfile[StubOptions] = ProviderProfile(
    name=STUB,
    title="Stub",
    default_base_url="https://stub.invalid",
    base_url_variable="STUB_BASE_URL",
    key_variables=("STUB_API_KEY",),
    service_key_variables={},
    read_options=_read_options,
    options_under_sandbox=same_options,
    max_name_length=STUB_MAX_NAME_LENGTH,
    datasets=DatasetForms(
        folder=False,
        file_suffixes=(".jsonl",),
        takes="the stub takes a .jsonl file or {id: ...} of an uploaded dataset",
    ),
    spec_fields=_spec_fields,
    owner_in_dataset_name=True,
    dataset_name_is_file_name=False,
    marker_in_dataset_ref=_marker_in_dataset_ref,
    health=stub_health,
    decision_state=live_state,
    capabilities=Capabilities(
        updates_access=True, deletes_jobs=False, mutable_fields=frozenset({"access"})
    ),
    plan_delete=_plan_delete,
    name_for_nameless_job=None,
    import_fields=_import_fields,
)
