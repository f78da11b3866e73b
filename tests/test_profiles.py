"""PROFILES: exactly the providers there are, each profile true to its adapter, and (until the
diff takes its provider rules from the profiles) the same rules as the diff's."""

from __future__ import annotations

import hashlib
import typing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import naming
from reconciler.config import load_settings
from reconciler.diff import MUTABLE_FIELDS, _decision_state, _delete_for
from reconciler.model import PROVIDERS, BlockKind, Health, ObservedJob, Provider
from reconciler.providers.base import AccessUpdater, JobDeleter
from reconciler.providers.profile import DeleteStep, NoDelete
from reconciler.providers.profiles import PROFILES, key_variables
from reconciler.providers.registry import build_client

NAMES = st.from_regex(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8}){0,3}", fullmatch=True)
OWNERS = st.none() | st.from_regex(r"[a-z0-9]{2,8}", fullmatch=True)
FINGERPRINTS = st.binary(max_size=16).map(lambda b: hashlib.sha256(b).hexdigest())
STATUSES = st.sampled_from(
    ["queued", "running", "completed", "failed", "cancelled", "AVAILABLE", "READY", "paused", ""]
) | st.text(max_size=12)


def test_profiles_cover_exactly_the_providers() -> None:
    assert set(PROFILES) == set(typing.get_args(Provider))
    assert tuple(PROFILES) == PROVIDERS  # the order plans list them in
    assert all(profile.name == name for name, profile in PROFILES.items())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_adapter_offers_exactly_what_its_profile_declares(
    provider: Provider, tmp_path: Path
) -> None:
    client = build_client(provider, load_settings(tmp_path, environ={}))
    try:
        capabilities = PROFILES[provider].capabilities
        assert client.name == provider
        assert isinstance(client, AccessUpdater) == capabilities.updates_access
        assert isinstance(client, JobDeleter) == capabilities.deletes_jobs
    finally:
        client.close()


def test_access_is_mutable_exactly_where_it_can_be_updated() -> None:
    for profile in PROFILES.values():
        capabilities = profile.capabilities
        assert ("access" in capabilities.mutable_fields) == capabilities.updates_access


def test_every_key_variable_is_named_once() -> None:
    assert key_variables() == (
        "SEGMIND_API_KEY",
        "QUBRID_API_KEY",
        "COHERE_API_KEY",
        "CO_API_KEY",
        "WANDB_API_KEY",
    )


@given(st.sampled_from(PROVIDERS), STATUSES, st.none() | st.just("model-1"))
def test_a_provider_that_cannot_delete_never_plans_a_delete(
    provider: Provider, status: str, model_id: str | None
) -> None:
    profile = PROFILES[provider]
    job = ObservedJob(provider, "job-1", "m", status, profile.health(status), model_id=model_id)
    if not profile.capabilities.deletes_jobs:
        assert isinstance(profile.plan_delete(job), NoDelete)


# --- The diff's provider rules: the same as the profiles' ----------------------------------
#
# reconciler/diff.py still decides these by the provider's name, and calls naming's
# provider-keyed forms. These tests hold both to the profiles until the diff reads them there
# (then they go).


@given(
    st.sampled_from(PROVIDERS),
    NAMES,
    FINGERPRINTS,
    OWNERS,
    st.sampled_from(["", ".zip", ".csv", ".jsonl", ".ZIP"]),
)
def test_the_naming_forms_the_diff_calls_agree_with_the_profiles(
    provider: Provider, name: str, fingerprint: str, owner: str | None, suffix: str
) -> None:
    profile = PROFILES[provider]
    marker = profile.dataset_marker(name, fingerprint, owner)
    assert naming.dataset_marker(provider, name, fingerprint, owner) == marker
    assert naming.upload_names(provider, marker, suffix) == profile.upload_names(marker, suffix)
    job_name = naming.remote_job_name(owner, name)
    _, file_name = profile.upload_names(marker, suffix)
    for ref in (
        f"https://bucket.test/uploads/u/9f3a-{file_name}?X-Amz-Signature=x",
        f"{marker}-a1b2c3",
        f"{marker}",
        "ds-1234",
    ):
        for named in (job_name, None):
            assert naming.marker_from_dataset_ref(
                provider, ref, named
            ) == profile.marker_in_dataset_ref(ref, named)


@given(
    st.sampled_from(PROVIDERS),
    STATUSES,
    st.none() | st.just("model-1"),
    st.sampled_from(list(Health)),
)
def test_the_diffs_delete_and_decision_rules_agree_with_the_profiles(
    provider: Provider, status: str, model_id: str | None, health: Health
) -> None:
    profile = PROFILES[provider]
    job = ObservedJob(provider, "job-1", "m", status, health, model_id=model_id)
    planned, decided = profile.plan_delete(job), _delete_for(job)
    if planned is None:
        assert decided is None
    elif isinstance(planned, DeleteStep):
        assert decided is not None and decided.blocked is None
        assert (decided.delete_method, decided.target_id) == (planned.method, planned.target_id)
    else:
        assert decided is not None and decided.blocked is not None
        assert decided.blocked.kind is BlockKind.NOT_SUPPORTED
        assert decided.reason == planned.reason
        assert decided.blocked.fix.startswith(f"{planned.fix}, ")
    by_health = {Health.MISSING: "gone", Health.DEGRADED: "failed"}
    assert _decision_state(job) == by_health.get(health, profile.decision_state(job))


def test_the_diffs_mutable_fields_are_the_profiles() -> None:
    declared = frozenset().union(*(p.capabilities.mutable_fields for p in PROFILES.values()))
    assert declared == MUTABLE_FIELDS
