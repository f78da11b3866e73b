"""Properties of the diff, over random specs and random remote states (hypothesis).

``RemoteModel`` is a small model of the three providers: it holds jobs and datasets, answers
an observation, and applies a plan's actionable changes the way an adapter would (upload,
submit, flip access, cancel or delete). With it:

- applying a plan and planning again yields nothing to do (level-triggered convergence);
- a plan never creates a job for a name that already has a live one of this repository (its
  owner id), nor while a live job of that name carries no owner at all; jobs of another
  repository never stop it;
- a plan's JSON form reads back to an equal plan.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.action import Action
from reconciler.core.observed import ObservedJob, ObservedState, ProviderObservation, RemoteDataset
from reconciler.core.plan import Change, DeleteMethod, Plan, PlanOptions
from reconciler.core.spec import PROVIDERS, DatasetKind, DatasetRef, DesiredJob, Provider
from reconciler.diff import identify_jobs, plan
from reconciler.naming import parse_marker
from reconciler.planfile import plan_from_json, plan_to_json
from reconciler.providers.cohere.profile import parse_cohere_dataset_name
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.profile import parse_qubrid_dataset_name
from tests.support.diff_builders import BASE_MODELS, FP_A, FP_B, OWNER, spec

NAMES = ("a", "b", "c")
OWNERS = (OWNER, "other", None)
FINGERPRINTS = (FP_A, FP_B)
STATUSES: dict[Provider, tuple[str, ...]] = {
    "segmind": ("REQUESTED", "TRAINING_INITIATED", "AVAILABLE", "FAILED", "MYSTERY"),
    "qubrid": ("queued", "running", "completed", "failed", "cancelled"),
    "cohere": (
        "STATUS_QUEUED",
        "STATUS_FINETUNING",
        "STATUS_READY",
        "STATUS_FAILED",
        "STATUS_DELETED",
    ),
}
FIRST_STATUS: dict[Provider, str] = {
    "segmind": "REQUESTED",
    "qubrid": "queued",
    "cohere": "STATUS_QUEUED",
}
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class RemoteModel:
    """The providers as a plan sees them, mutated the way apply would mutate them."""

    jobs: list[ObservedJob] = field(default_factory=list)
    datasets: list[RemoteDataset] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def observe(self) -> ObservedState:
        return ObservedState.of(
            *(
                ProviderObservation(
                    p,
                    jobs=tuple(j for j in self.jobs if j.provider == p),
                    datasets=tuple(d for d in self.datasets if d.provider == p),
                )
                for p in PROVIDERS
            )
        )

    def apply(self, the_plan: Plan) -> None:
        for change in the_plan.actionable:
            if change.action in (Action.CREATE, Action.REPLACE):
                self._submit(change)
            elif change.action is Action.UPDATE:
                self._update(change)
            elif change.action is Action.DELETE:
                self._delete(change)

    def _dataset_ref(self, change: Change) -> str:
        assert change.desired is not None
        provider = change.provider
        if change.reuse is not None:
            return change.reuse.remote_id
        if change.upload is None:
            return change.desired.spec.dataset.value
        number = next(self.ids)
        if provider == "segmind":
            return f"https://finetune-pipeline.s3.amazonaws.com/uploads/u/{number:x}-{change.upload.file_name}?X-Amz-Signature=s"
        if provider == "qubrid":
            remote_id = f"ds-{number}"
            marker = parse_qubrid_dataset_name(change.upload.remote_name)
        else:
            remote_id = f"{change.upload.remote_name}-{number:06d}"[:60]
            marker = parse_cohere_dataset_name(change.upload.remote_name)
        self.datasets.append(RemoteDataset(provider, remote_id, change.upload.remote_name, marker))
        return remote_id

    def _submit(self, change: Change) -> None:
        assert change.desired is not None
        the_spec = change.desired.spec
        number = next(self.ids)
        status = FIRST_STATUS[the_spec.provider]
        self.jobs.append(
            ObservedJob(
                provider=the_spec.provider,
                remote_id=f"job-{number}",
                name=None if the_spec.provider == "qubrid" else the_spec.name,
                owner=None if the_spec.provider == "qubrid" else change.desired.owner,
                raw_status=status,
                health=PROFILES[the_spec.provider].health(status),
                created_at=EPOCH + timedelta(seconds=number),
                access=(the_spec.access or "private") if the_spec.provider == "segmind" else None,
                dataset_ref=self._dataset_ref(change),
                base_model=the_spec.base_model,
                base_type=the_spec.base_type,
                task_type=the_spec.task_type,
                theme=the_spec.theme,
                parameters=dict(the_spec.parameters),
            )
        )

    def _update(self, change: Change) -> None:
        assert change.desired is not None
        self.jobs = [
            replace(j, access=change.desired.spec.access) if j.remote_id == change.target_id else j
            for j in self.jobs
        ]

    def _delete(self, change: Change) -> None:
        assert change.current is not None
        gone = "cancelled" if change.delete_method is DeleteMethod.CANCEL_JOB else "deleted"
        status = {"qubrid": gone, "cohere": "STATUS_DELETED"}[change.provider]
        model_status = "deleted" if change.provider == "qubrid" and gone == "deleted" else None
        self.jobs = [
            replace(
                j,
                raw_status=j.raw_status if model_status else status,
                health=PROFILES[j.provider].health(
                    j.raw_status if model_status else status, model_status
                ),
            )
            if j.remote_id == change.current.remote_id
            else j
            for j in self.jobs
        ]


@st.composite
def desired_jobs(draw: st.DrawFn) -> list[DesiredJob]:
    jobs = []
    for provider in PROVIDERS:
        for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3)):
            kwargs: dict[str, Any] = {"parameters": {"steps": draw(st.sampled_from([1, 2]))}}
            if provider == "segmind":
                kwargs["access"] = draw(st.sampled_from([None, "private", "public"]))
            remote_kind = draw(st.booleans()) and provider != "qubrid"
            if remote_kind:
                kwargs["dataset"] = (
                    DatasetRef(DatasetKind.URL, f"https://data.test/{name}.zip")
                    if provider == "segmind"
                    else DatasetRef(DatasetKind.ID, f"shared-{name}-abc123")
                )
                jobs.append(DesiredJob(spec(name, provider, **kwargs), owner=OWNER))
            else:
                fingerprint = draw(st.sampled_from(FINGERPRINTS))
                jobs.append(
                    DesiredJob(spec(name, provider, **kwargs), fingerprint, 1000, owner=OWNER)
                )
    return jobs


@st.composite
def remote_models(draw: st.DrawFn) -> RemoteModel:
    """Jobs over the same few names: ours, another repository's and unowned ones (marked or
    not), failed and deleted ones."""
    model = RemoteModel()
    count = draw(st.integers(0, 8))
    for index in range(count):
        provider: Provider = draw(st.sampled_from(PROVIDERS))
        name = draw(st.sampled_from((*NAMES, "stranger")))
        status = draw(st.sampled_from(STATUSES[provider]))
        marked = draw(st.booleans())
        owner = draw(st.sampled_from(OWNERS))
        fingerprint = draw(st.sampled_from(FINGERPRINTS))
        marker = PROFILES[provider].dataset_marker(name, fingerprint, owner)
        if provider == "segmind":
            ref = (
                f"https://s3.test/uploads/u/{index}-{marker}.zip"
                if marked
                else f"https://data.test/{name}.zip"
            )
        elif provider == "cohere":
            ref = f"{marker}-q{index:05d}" if marked else f"shared-{name}-abc123"
        else:
            ref = f"ds-initial-{index}"
            dataset_name = f"{marker}.csv" if marked else f"{name}.csv"
            model.datasets.append(
                RemoteDataset("qubrid", ref, dataset_name, parse_marker(dataset_name))
            )
        model.jobs.append(
            ObservedJob(
                provider=provider,
                remote_id=f"initial-{index}",
                name=None if provider == "qubrid" else name,
                owner=None if provider == "qubrid" else owner,
                raw_status=status,
                health=PROFILES[provider].health(status),
                created_at=EPOCH + timedelta(seconds=draw(st.integers(0, 5))),
                sequence=index,
                access=draw(st.sampled_from(["private", "public"]))
                if provider == "segmind"
                else None,
                dataset_ref=ref,
                model_id=f"model-{index}" if draw(st.booleans()) else None,
                base_model=draw(st.sampled_from([BASE_MODELS[provider], "other-model"])),
                base_type="BASE_TYPE_CHAT" if provider == "cohere" else None,
                task_type="qa" if provider == "qubrid" else None,
                parameters={"steps": draw(st.sampled_from([1, 2, 1.0]))},
            )
        )
    return model


options = st.builds(
    lambda prune, allow_replace, retry_failed: PlanOptions(
        owner=OWNER, prune=prune, allow_replace=allow_replace, retry_failed=retry_failed
    ),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(desired_jobs(), remote_models(), options)
def test_applying_a_plan_then_planning_again_leaves_nothing_to_do(
    desired: list[DesiredJob], model: RemoteModel, chosen: PlanOptions
) -> None:
    model.apply(plan(desired, model.observe(), chosen))
    again = plan(desired, model.observe(), chosen)
    assert again.actionable == (), [
        (c.action, c.provider, c.name, c.reason) for c in again.actionable
    ]


@settings(max_examples=200, deadline=None)
@given(desired_jobs(), remote_models(), options)
def test_a_plan_never_creates_a_second_job_for_a_name(
    desired: list[DesiredJob], model: RemoteModel, chosen: PlanOptions
) -> None:
    state = model.observe()
    result = plan(desired, state, chosen)
    creates = [c for c in result.actionable if c.action is Action.CREATE]
    assert len({(c.provider, c.name) for c in creates}) == len(creates)
    for provider, observation in state.providers.items():
        live = {
            j.name
            for j in identify_jobs(observation, desired, OWNER)
            if j.health.is_live and j.owner in (OWNER, None)
        }
        assert not [c.name for c in creates if c.provider == provider and c.name in live]
    model.apply(result)
    for provider, observation in model.observe().providers.items():
        names = [
            j.name
            for j in identify_jobs(observation, desired, OWNER)
            if j.health.is_live and j.owner == OWNER
        ]
        created = {c.name for c in creates if c.provider == provider}
        assert all(names.count(name) == 1 for name in created)


@settings(max_examples=200, deadline=None)
@given(desired_jobs(), remote_models(), options)
def test_a_plan_reads_back_from_its_json(
    desired: list[DesiredJob], model: RemoteModel, chosen: PlanOptions
) -> None:
    result = plan(desired, model.observe(), chosen)
    text = plan_to_json(result)
    assert plan_from_json(text) == result
    assert plan_to_json(plan_from_json(text)) == text
    assert "X-Amz-Signature" not in text
    assert json.loads(text)["format_version"] == 2


# Statuses a job may move between without a saved plan going stale: same decision state.
SAME_STATE: dict[str, str] = {
    "REQUESTED": "AVAILABLE",
    "TRAINING_INITIATED": "REQUESTED",
    "AVAILABLE": "TRAINING_INITIATED",
    "queued": "running",
    "running": "queued",
    "STATUS_QUEUED": "STATUS_READY",
    "STATUS_FINETUNING": "STATUS_QUEUED",
    "STATUS_READY": "STATUS_FINETUNING",
}


def what_apply_does(change: Change) -> tuple[Any, ...]:
    return (
        change.action,
        change.provider,
        change.name,
        change.desired,
        change.upload,
        change.reuse,
        change.target_id,
        change.delete_method,
        change.blocked is None,
        change.current.remote_id if change.current else None,
    )


@settings(max_examples=200, deadline=None)
@given(desired_jobs(), remote_models(), options)
def test_an_unchanged_snapshot_means_unchanged_actions(
    desired: list[DesiredJob], model: RemoteModel, chosen: PlanOptions
) -> None:
    before = plan(desired, model.observe(), chosen)
    model.jobs = [
        replace(
            j,
            raw_status=SAME_STATE.get(j.raw_status, j.raw_status),
            health=PROFILES[j.provider].health(SAME_STATE.get(j.raw_status, j.raw_status)),
            error_message="a new message",
        )
        for j in model.jobs
    ]
    after = plan(desired, model.observe(), chosen)
    assert after.snapshot == before.snapshot
    assert [what_apply_does(c) for c in after.actionable] == [
        what_apply_does(c) for c in before.actionable
    ]
