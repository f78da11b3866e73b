"""The contract every provider's adapter keeps (``providers.base.ProviderClient`` and the
capabilities its profile declares), run against every provider in ``HARNESSES`` under every
reading of its open questions the sandbox can take, one at a time (``conftest.py``,
``readings.py``): the client is proven against each reading, not only the one it was written to.

The core promise is ``test_observing_after_a_create_converges``: after a job is uploaded and
created, the next observation pairs it with its spec and the plan has nothing left to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from reconciler.core.action import Action
from reconciler.core.observed import Health, ObservedJob, ObservedState, ProviderObservation
from reconciler.core.plan import BlockKind, Change, Plan, PlanOptions
from reconciler.core.spec import DesiredJob
from reconciler.diff import identify_jobs, plan
from reconciler.diff.pair import pair
from reconciler.providers.base import (
    AccessUpdater,
    AuthenticationError,
    ClientClosedError,
    JobDeleter,
    OutcomeUnknownError,
    OutputsReader,
    ProviderClient,
)
from reconciler.providers.profile import DeleteStep, NoDelete
from tests.contract.harness import WRONG_KEY, Harness
from tests.contract.harnesses import HARNESSES
from tests.contract.readings import NOT_UNDER

NAME = "contract-job"


def create(harness: Harness, client: ProviderClient, desired: DesiredJob) -> str:
    """Upload ``desired``'s dataset and create its job, as apply does; returns the job's id.

    Where the provider's answer to a create carries no id (a 204), the create must say its
    outcome is unknown, never fail or succeed with a made-up id, and the lists must then show
    exactly one job of the spec's name: that is the job, as the executor finds it.
    """
    dataset_ref = client.upload_dataset(harness.upload(desired), desired)
    assert isinstance(dataset_ref, str) and dataset_ref
    if harness.reading.create_answer_has_no_id:
        with pytest.raises(OutcomeUnknownError) as unknown:
            client.create(desired, dataset_ref)
        assert unknown.value.provider == harness.profile.name
        return listed_once(harness, client, desired)
    job_id = client.create(desired, dataset_ref)
    assert isinstance(job_id, str) and job_id
    return job_id


def listed_once(harness: Harness, client: ProviderClient, desired: DesiredJob) -> str:
    """The id of the one job of ``desired``'s name and our owner that a fresh, complete
    observation shows."""
    observation = client.observe()
    assert observation.complete, observation.error
    named = [
        job.remote_id
        for job in identify_jobs(observation, (), harness.owner)
        if job.name == desired.spec.name and job.owned_by(harness.owner)
    ]
    assert len(named) == 1, f"{len(named)} jobs named {desired.spec.name}: {named}"
    (job_id,) = named
    assert isinstance(job_id, str) and job_id
    return job_id


def observed_job(harness: Harness, observation: ProviderObservation, job_id: str) -> ObservedJob:
    """Job ``job_id`` of a complete observation, identified as the plan identifies jobs."""
    assert observation.complete, observation.error
    assert observation.provider == harness.profile.name
    jobs = {job.remote_id: job for job in identify_jobs(observation, (), harness.owner)}
    assert job_id in jobs, f"job {job_id} is not listed: {sorted(jobs)}"
    return jobs[job_id]


def plan_for(
    harness: Harness,
    desired: Sequence[DesiredJob],
    observation: ProviderObservation,
    *,
    prune: bool = False,
) -> Plan:
    options = PlanOptions(owner=harness.owner, prune=prune)
    return plan(desired, ObservedState.of(observation), options)


def change_of(planned: Plan, name: str) -> Change:
    (change,) = [c for c in planned.changes if c.name == name]
    return change


# Observe ----------------------------------------------------------------------------------


def test_an_empty_account_is_observed_completely_with_no_job_of_ours(harness: Harness) -> None:
    observation = harness.client().observe()

    if harness.reading.refuses_finetuning:
        # Nothing can be observed: the observation says so, with the date and what to do.
        assert not observation.complete and observation.jobs == ()
        assert observation.error is not None and "deprecated" in observation.error
        assert "2025-09-15" in observation.error, observation.error
        return
    assert observation.complete and observation.error is None
    assert observation.provider == harness.profile.name
    identified = identify_jobs(observation, (), harness.owner)
    assert not [job for job in identified if job.owned_by(harness.owner)]
    assert not plan_for(harness, [], observation, prune=True).changes


# Create, then observe ---------------------------------------------------------------------


def test_a_created_job_is_observed_under_its_spec_s_name_owner_and_marker(
    harness: Harness,
) -> None:
    client = harness.client()
    desired = harness.desired(NAME)
    job_id = create(harness, client, desired)

    observation = client.observe()

    job = observed_job(harness, observation, job_id)
    profile = harness.profile
    assert (job.provider, job.name, job.owner) == (profile.name, NAME, harness.owner)
    assert job.remote_name == desired.remote_name
    assert desired.dataset_fingerprint is not None
    assert job.marker == profile.dataset_marker(NAME, desired.dataset_fingerprint, harness.owner)
    assert job.health is profile.health(job.raw_status)
    assert job.health.is_live and job.health is not Health.UNKNOWN
    pairings, others = pair(profile.name, [desired], [job], harness.owner)
    assert others == []
    (pairing,) = pairings
    assert pairing.desired == desired and pairing.current == job


def test_observing_after_a_create_converges(harness: Harness) -> None:
    client = harness.client()
    desired = harness.desired(NAME)
    job_id = create(harness, client, desired)

    change = change_of(plan_for(harness, [desired], client.observe()), NAME)

    assert (change.action, change.blocked) == (Action.NOOP, None), change.reason
    assert change.current is not None and change.current.remote_id == job_id


def test_one_client_serves_several_threads(harness: Harness) -> None:
    client = harness.client()
    wanted = [harness.desired(f"{NAME}-{index}") for index in range(4)]

    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        job_ids = list(pool.map(lambda desired: create(harness, client, desired), wanted))
    observation = client.observe()

    names = {observed_job(harness, observation, job_id).name for job_id in job_ids}
    assert names == {desired.spec.name for desired in wanted}
    actions = {change.action for change in plan_for(harness, wanted, observation).changes}
    assert actions == {Action.NOOP}


def test_a_finished_job_is_healthy_and_still_converged(harness: Harness) -> None:
    client = harness.client()
    desired = harness.desired(NAME)
    job_id = create(harness, client, desired)

    harness.finish(job_id)
    observation = client.observe()

    job = observed_job(harness, observation, job_id)
    assert job.health is Health.HEALTHY, job.raw_status
    change = change_of(plan_for(harness, [desired], observation), NAME)
    assert (change.action, change.health) == (Action.NOOP, Health.HEALTHY)


def test_an_uploaded_dataset_is_reused_rather_than_uploaded_again(harness: Harness) -> None:
    # A run that uploaded the dataset and stopped before creating the job: the next plan
    # creates the job, and uploads again only where the provider lists no datasets.
    client = harness.client()
    desired = harness.desired(NAME)
    client.upload_dataset(harness.upload(desired), desired)
    observation = client.observe()

    change = change_of(plan_for(harness, [desired], observation), NAME)

    assert change.action is Action.CREATE and change.blocked is None
    assert desired.dataset_fingerprint is not None
    marker = harness.profile.dataset_marker(NAME, desired.dataset_fingerprint, harness.owner)
    if observation.datasets:
        assert change.reuse is not None and change.upload is None
        assert change.reuse.marker == marker
    else:
        assert change.upload is not None


# Capabilities -----------------------------------------------------------------------------


def test_capabilities_are_declared_not_guessed(harness: Harness) -> None:
    client = harness.client()
    capabilities = harness.profile.capabilities

    assert client.name == harness.profile.name
    assert isinstance(client, AccessUpdater) == capabilities.updates_access
    assert isinstance(client, JobDeleter) == capabilities.deletes_jobs
    assert isinstance(client, OutputsReader) == capabilities.reads_outputs


def test_an_access_update_is_observed_and_converges(access_updating_harness: Harness) -> None:
    harness = access_updating_harness
    client = harness.client()
    assert isinstance(client, AccessUpdater)
    private = harness.desired(NAME, access="private")
    job_id = create(harness, client, private)
    public = harness.desired(NAME, access="public")
    update = change_of(plan_for(harness, [public], client.observe()), NAME)
    assert (update.action, update.target_id) == (Action.UPDATE, job_id)

    client.update_access(job_id, "public")
    client.update_access(job_id, "public")  # what it is already: harmless
    observation = client.observe()

    assert observed_job(harness, observation, job_id).access == "public"
    assert change_of(plan_for(harness, [public], observation), NAME).action is Action.NOOP


def test_a_delete_leaves_the_job_as_the_profile_plans(deleting_harness: Harness) -> None:
    harness = deleting_harness
    client = harness.client()
    assert isinstance(client, JobDeleter)
    job_id = create(harness, client, harness.desired(NAME))
    job = observed_job(harness, client.observe(), job_id)
    planned = harness.profile.plan_delete(job)
    assert isinstance(planned, DeleteStep)
    delete = change_of(plan_for(harness, [], client.observe(), prune=True), NAME)
    assert delete.action is Action.DELETE and delete.blocked is None
    assert (delete.delete_method, delete.target_id) == (planned.method, planned.target_id)

    client.delete(delete)
    client.delete(delete)  # what is gone already: harmless
    observation = client.observe()

    assert observation.complete, observation.error
    left = [j for j in observation.jobs if j.remote_id == job_id]
    assert all(j.health is Health.MISSING for j in left), left
    assert not plan_for(harness, [], observation, prune=True).changes


def test_a_finished_job_is_deleted_as_the_profile_plans(deleting_harness: Harness) -> None:
    harness = deleting_harness
    client = harness.client()
    assert isinstance(client, JobDeleter)
    job_id = create(harness, client, harness.desired(NAME))
    harness.finish(job_id)
    observation = client.observe()
    planned = harness.profile.plan_delete(observed_job(harness, observation, job_id))
    assert isinstance(planned, DeleteStep)
    delete = change_of(plan_for(harness, [], observation, prune=True), NAME)
    assert (delete.delete_method, delete.target_id) == (planned.method, planned.target_id)

    client.delete(delete)
    observation = client.observe()

    left = [j for j in observation.jobs if j.remote_id == job_id]
    if harness.reading.deleted_models_stay_listed:
        # The job still shows as it was: a prune plans the same delete again, and it is done.
        again = change_of(plan_for(harness, [], observation, prune=True), NAME)
        assert (again.delete_method, again.target_id) == (planned.method, planned.target_id)
        client.delete(again)
    else:
        assert all(j.health is Health.MISSING for j in left), left


def test_a_provider_without_delete_is_told_so_in_the_plan(non_deleting_harness: Harness) -> None:
    harness = non_deleting_harness
    client = harness.client()
    job_id = create(harness, client, harness.desired(NAME))
    observation = client.observe()
    planned = harness.profile.plan_delete(observed_job(harness, observation, job_id))
    assert isinstance(planned, NoDelete)

    delete = change_of(plan_for(harness, [], observation, prune=True), NAME)

    assert delete.action is Action.DELETE
    assert delete.blocked is not None and delete.blocked.kind is BlockKind.NOT_SUPPORTED
    assert delete.reason == planned.reason


# Keys and closing -------------------------------------------------------------------------


def test_a_wrong_key_is_refused_and_never_shown(harness: Harness) -> None:
    client = harness.client(key=WRONG_KEY)
    desired = harness.desired(NAME)

    observation = client.observe()
    with pytest.raises(AuthenticationError) as refused:
        client.upload_dataset(harness.upload(desired), desired)

    assert not observation.complete and observation.jobs == ()
    for text in (observation.error or "", str(refused.value)):
        assert harness.profile.name in text
        assert all(variable in text for variable in harness.profile.key_variables), text
        assert WRONG_KEY not in text
    assert refused.value.provider == harness.profile.name
    assert WRONG_KEY not in repr(refused.value.args)


def test_close_is_idempotent_and_a_closed_client_sends_nothing(harness: Harness) -> None:
    client = harness.client()
    desired = harness.desired(NAME)
    upload = harness.upload(desired)

    client.close()
    client.close()

    with pytest.raises(ClientClosedError):
        client.upload_dataset(upload, desired)
    with pytest.raises(ClientClosedError):
        client.create(desired, "dataset-1")
    observation = client.observe()
    assert not observation.complete and observation.error


# The readings table ----------------------------------------------------------------------


def test_the_readings_table_names_readings_and_tests_that_exist() -> None:
    # A misspelt reading or test name in NOT_UNDER would exclude nothing, silently.
    readings = {reading.id for kind in HARNESSES for reading in kind.readings()}
    tests = {name for name in globals() if name.startswith("test_")}
    for reading_id, (excluded, reason) in NOT_UNDER.items():
        assert reading_id in readings, reading_id
        assert excluded <= tests, excluded - tests
        assert reason
