"""The facts every provider's profile must get right, checked alike for every provider in
``HARNESSES`` without a client: names and keys, statuses, the names of uploaded datasets read
back, capabilities and deletes, settings, adoption."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.observed import Health, ObservedJob
from reconciler.core.spec import FineTuneSpec
from reconciler.diff.compare import COMPARED_FIELDS
from reconciler.naming import (
    OWNER_MAX_LENGTH,
    is_valid_name,
    parse_marker,
    remote_job_name,
)
from reconciler.providers.profile import DeleteStep, ImportedFields, NoDelete, NotImportable
from reconciler.providers.profiles import PROFILES
from tests.contract.harness import Harness
from tests.contract.harnesses import HARNESSES
from tests.contract.stub_provider.profile import STUB

REPOSITORY = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
NAMES = st.from_regex(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8}){0,7}", fullmatch=True)
OWNERS = st.none() | st.from_regex(rf"[a-z0-9]{{2,{OWNER_MAX_LENGTH}}}", fullmatch=True)
FINGERPRINTS = st.binary(max_size=32).map(lambda b: hashlib.sha256(b).hexdigest())
# Remote job ids: any text, and long ones of the characters ids are made of.
JOB_IDS = st.text(min_size=1, max_size=80) | st.from_regex(r"[A-Za-z0-9_-]{30,80}", fullmatch=True)

each_provider = pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.profile.name)


def _job(harness: type[Harness], status: str, model_status: str | None = None) -> ObservedJob:
    profile = harness.profile
    return ObservedJob(
        profile.name,
        "job-1",
        "contract-job",
        status,
        profile.health(status, model_status),
        owner=harness.owner,
        model_id="model-1",
    )


# Names and keys ---------------------------------------------------------------------------


@each_provider
def test_the_profile_says_where_the_api_is_and_which_variables_hold_keys(
    harness: type[Harness],
) -> None:
    profile = harness.profile
    assert profile.name and profile.title
    assert profile.default_base_url.startswith("https://")
    variables = (
        profile.base_url_variable,
        *profile.key_variables,
        *profile.service_key_variables.values(),
    )
    assert profile.key_variables, "a provider's key is read from at least one variable"
    assert all(VARIABLE.fullmatch(variable) for variable in variables), variables
    assert len(set(variables)) == len(variables)
    assert all(variable in profile.key_variables_text for variable in profile.key_variables)


@each_provider
def test_a_name_of_the_longest_length_carries_the_marker(harness: type[Harness]) -> None:
    profile = harness.profile
    assert profile.max_name_length > 0
    longest = "a" * profile.max_name_length
    marker = profile.dataset_marker(longest, "0" * 64, "o" * OWNER_MAX_LENGTH)
    assert marker.name == longest


# Statuses ---------------------------------------------------------------------------------


@each_provider
def test_every_documented_status_has_a_known_health(harness: type[Harness]) -> None:
    health = harness.profile.health
    unknown = [
        (status, model_status)
        for status, model_status in harness.documented_statuses
        if health(status, model_status) is Health.UNKNOWN
    ]
    assert unknown == []
    assert health("SOMETHING-NEW-9") is Health.UNKNOWN
    assert health(None) is Health.UNKNOWN


@each_provider
def test_every_status_the_provider_reports_is_a_documented_one(harness: type[Harness]) -> None:
    documented = {status for status, _ in harness.documented_statuses}
    assert set(harness.reported_statuses) - documented == set()


@each_provider
def test_a_live_job_s_decision_state_is_a_word(harness: type[Harness]) -> None:
    for status, model_status in harness.documented_statuses:
        job = _job(harness, status, model_status)
        if job.health.is_live:
            state = harness.profile.decision_state(job)
            assert isinstance(state, str) and state, (status, model_status)


# Uploaded datasets' names -----------------------------------------------------------------


@each_provider
@given(name=NAMES, owner=OWNERS, fingerprint=FINGERPRINTS)
def test_an_uploaded_dataset_s_names_read_back_as_its_marker(
    harness: type[Harness], name: str, owner: str | None, fingerprint: str
) -> None:
    profile = harness.profile
    if len(name) > profile.max_name_length:
        name = name[: profile.max_name_length].rstrip("-")
    marker = profile.dataset_marker(name, fingerprint, owner)
    assert (marker.name, marker.fingerprint12) == (name, fingerprint[:12])
    assert marker.owner == (owner if profile.owner_in_dataset_name else None)
    suffixes = (*profile.datasets.file_suffixes, *([""] if profile.datasets.folder else []))
    for suffix in suffixes:
        remote_name, file_name = profile.upload_names(marker, suffix)
        # As a dataset list shows the name, and as the file sent with the bytes is named.
        assert parse_marker(remote_name) == marker
        assert parse_marker(file_name) == marker
        assert (remote_name == file_name) == profile.dataset_name_is_file_name
        # As a job shows the dataset it trains on, where that carries the names.
        ref = harness.stored_dataset_ref(remote_name, file_name)
        if ref is not None:
            assert profile.marker_in_dataset_ref(ref, remote_job_name(owner, name)) == marker


@each_provider
def test_the_datasets_a_provider_takes_are_named(harness: type[Harness]) -> None:
    forms = harness.profile.datasets
    assert forms.folder or forms.file_suffixes
    assert all(re.fullmatch(r"\.[a-z0-9]+", suffix) for suffix in forms.file_suffixes)
    assert forms.takes


# Capabilities and deletes -----------------------------------------------------------------


@each_provider
def test_what_can_change_in_place_is_a_compared_field_and_access_only_where_it_updates(
    harness: type[Harness],
) -> None:
    capabilities = harness.profile.capabilities
    spec_fields = {field.name for field in dataclasses.fields(FineTuneSpec)}
    assert capabilities.mutable_fields <= spec_fields & set(COMPARED_FIELDS)
    assert ("access" in capabilities.mutable_fields) == capabilities.updates_access


@each_provider
def test_a_delete_is_planned_only_where_the_provider_deletes(harness: type[Harness]) -> None:
    profile = harness.profile
    planned = {
        (status, model_status): profile.plan_delete(_job(harness, status, model_status))
        for status, model_status in harness.documented_statuses
        if profile.health(status, model_status).is_live
    }
    steps = [p for p in planned.values() if isinstance(p, DeleteStep)]
    if profile.capabilities.deletes_jobs:
        assert steps, "a provider that deletes jobs deletes some live job"
        assert all(step.target_id for step in steps)
    else:
        assert all(isinstance(p, NoDelete) and p.reason and p.fix for p in planned.values())


# Settings and adoption --------------------------------------------------------------------


@each_provider
def test_its_settings_have_defaults_and_a_sandbox_form(harness: type[Harness]) -> None:
    profile = harness.profile
    options = profile.read_options({})
    assert type(profile.options_under_sandbox(options, 60.0)) is type(options)


@pytest.mark.parametrize(
    "harness",
    [h for h in HARNESSES if h.profile.name_for_nameless_job is not None],
    ids=lambda h: h.profile.name,
)
@given(job_id=JOB_IDS)
def test_a_nameless_job_s_derived_name_is_a_valid_spec_name(
    harness: type[Harness], job_id: str
) -> None:
    derive = harness.profile.name_for_nameless_job
    assert derive is not None
    name = derive(job_id)
    assert is_valid_name(name) and len(name) <= harness.profile.max_name_length


@each_provider
def test_a_job_its_list_says_nothing_of_is_not_importable(harness: type[Harness]) -> None:
    status, model_status = harness.documented_statuses[0]
    imported = harness.profile.import_fields(_job(harness, status, model_status))
    assert isinstance(imported, NotImportable) and imported.reason


@each_provider
def test_a_job_with_its_model_and_dataset_imports_its_base_model(harness: type[Harness]) -> None:
    status, model_status = harness.documented_statuses[0]
    job = dataclasses.replace(
        _job(harness, status, model_status),
        base_model="base-1",
        base_type="BASE_TYPE_CHAT",
        task_type="qa",
        dataset_ref="dataset-1",
    )
    imported = harness.profile.import_fields(job)
    assert isinstance(imported, ImportedFields)
    assert "base_model" in imported.fields and "dataset" in imported.fields


# The test-only provider -------------------------------------------------------------------


def test_the_test_only_provider_is_named_in_no_product_file() -> None:
    assert STUB not in PROFILES  # listed only while a contract test runs
    quoted = re.compile(rf"""["']{STUB}["']""")
    product = [
        path
        for folder in ("reconciler", "reconcile_sandbox", "schemas")
        for path in (REPOSITORY / folder).rglob("*")
        if path.suffix in (".py", ".json") and quoted.search(path.read_text(encoding="utf-8"))
    ]
    assert product == []
