"""PROFILES: exactly the providers there are, each profile true to its adapter."""

from __future__ import annotations

import hashlib
import typing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.config import load_settings
from reconciler.core.observed import ObservedJob
from reconciler.core.spec import PROVIDERS, Provider
from reconciler.providers.base import AccessUpdater, DatasetValidator, JobDeleter
from reconciler.providers.profile import NoDelete
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
        assert isinstance(client, DatasetValidator) == capabilities.validates_datasets
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
