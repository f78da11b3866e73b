"""The apply executor against an in-memory provider: phases, parallelism, failure isolation,
lost answers (re-observe, never a duplicate), blocked changes, and the result's verdict."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest

from reconciler.apply.executor import CONFIRM_PAUSES, ApplyExecutor, apply_plan, confirm_pauses
from reconciler.core.action import Action
from reconciler.core.observed import (
    Health,
    ObservedJob,
    ObservedState,
    ProviderObservation,
    WriteState,
)
from reconciler.core.outcome import OutcomeKind, ProviderRefusal
from reconciler.core.plan import Change, Plan, PlanOptions, Upload
from reconciler.core.spec import (
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Provider,
    SourceLocation,
)
from reconciler.diff import plan as make_plan
from reconciler.progress import ApplyProgress
from reconciler.providers.base import (
    OutcomeUnknownError,
    PermanentError,
    ProviderClient,
    ServiceRefusedError,
)

FP = "ab" * 32
OWNER = "team"


class FakeProvider:
    """A provider in memory that follows the ``ProviderClient`` protocol.

    ``lose_create_answers`` loses the answer of that many creates after committing them;
    ``lose_before_commit`` loses that many without committing; ``refuse`` maps a job name to
    the message a create of it is refused with; ``refuse_service`` refuses every upload and
    create with that message as a refusal of the service itself; ``delay`` slows every write.
    """

    def __init__(self, name: Provider = "segmind", *, delay: float = 0.0) -> None:
        self.name: Provider = name
        self.jobs: dict[str, ObservedJob] = {}
        self.uploads: list[str] = []
        self.creates = 0
        self.observes = 0
        self.lose_create_answers = 0
        self.lose_before_commit = 0
        self.refuse: dict[str, str] = {}
        self.refuse_uploads: set[str] = set()
        self.refuse_service: str | None = None
        self.delay = delay
        self.observe_incomplete = False
        self.incomplete_observes = 0
        self.observe_delay = 0.0
        self.uploaded_for: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._next = 0

    def _enter(self, call: str) -> None:
        with self._lock:
            self.calls.append(call)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def add(
        self,
        name: str,
        *,
        access: Literal["private", "public"] | None = None,
        owner: str | None = OWNER,
    ) -> str:
        with self._lock:
            self._next += 1
            remote_id = f"{self.name}-{self._next}"
            self.jobs[remote_id] = ObservedJob(
                provider=self.name,
                remote_id=remote_id,
                name=name,
                owner=owner,
                raw_status="QUEUED",
                health=Health.PENDING,
                sequence=self._next,
                access=access,
            )
            return remote_id

    def observe(self) -> ProviderObservation:
        self.observes += 1
        time.sleep(self.observe_delay)
        if self.incomplete_observes:
            self.incomplete_observes -= 1
            return ProviderObservation(self.name, complete=False, error="HTTP 429")
        if self.observe_incomplete:
            return ProviderObservation(self.name, complete=False, error="HTTP 503")
        return ProviderObservation(self.name, jobs=tuple(self.jobs.values()))

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        self._enter(f"upload {upload.remote_name}")
        self.uploaded_for.append(desired.spec.name if desired else None)
        try:
            if self.refuse_service is not None:
                raise ServiceRefusedError(self.name, self.refuse_service, status=400)
            if upload.remote_name in self.refuse_uploads:
                raise PermanentError(self.name, "the file is not a valid ZIP", status=400)
            self.uploads.append(upload.remote_name)
            return f"https://objects.invalid/{upload.remote_name}"
        finally:
            self._leave()

    def create(self, desired: DesiredJob, dataset_ref: str) -> str:
        self._enter(f"create {desired.spec.name}")
        try:
            self.creates += 1
            name = desired.spec.name
            if self.refuse_service is not None:
                raise ServiceRefusedError(self.name, self.refuse_service, job=name, status=410)
            if name in self.refuse:
                raise PermanentError(self.name, self.refuse[name], job=name, status=400)
            if self.lose_before_commit:
                self.lose_before_commit -= 1
                raise OutcomeUnknownError(self.name, "connection dropped", job=name)
            remote_id = self.add(name, access=desired.spec.access, owner=desired.owner)
            if self.lose_create_answers:
                self.lose_create_answers -= 1
                raise OutcomeUnknownError(self.name, "connection dropped", job=name)
            return remote_id
        finally:
            self._leave()

    def update_access(self, job_id: str, access: Literal["private", "public"]) -> None:
        self._enter(f"update {job_id}")
        try:
            self.jobs[job_id] = replace(self.jobs[job_id], access=access)
        finally:
            self._leave()

    def delete(self, change: Change) -> None:
        self._enter(f"delete {change.target_id}")
        try:
            assert change.target_id is not None
            self.jobs[change.target_id] = replace(
                self.jobs[change.target_id], health=Health.MISSING, raw_status="deleted"
            )
        finally:
            self._leave()

    def close(self) -> None:
        return None


def spec(
    name: str,
    provider: Provider = "segmind",
    *,
    access: Literal["private", "public"] | None = "private",
    local: bool = False,
    base_model: str = "FLUX",
) -> FineTuneSpec:
    dataset = (
        DatasetRef(DatasetKind.FOLDER, str(Path("/repo/datasets") / name))
        if local
        else DatasetRef(DatasetKind.URL, f"https://data.invalid/{name}.zip")
    )
    return FineTuneSpec(
        name=name,
        provider=provider,
        base_model=base_model,
        dataset=dataset,
        source=SourceLocation(Path("/repo/specs/x.yaml"), 1, 1),
        access=access if provider == "segmind" else None,
        set_fields=frozenset({"access"} if provider == "segmind" and access else set()),
    )


def desired(s: FineTuneSpec) -> DesiredJob:
    if s.dataset.is_local:
        return DesiredJob(s, dataset_fingerprint=FP, upload_size=1000, owner=OWNER)
    return DesiredJob(s, owner=OWNER)


def plan_for(specs: list[FineTuneSpec], providers: list[FakeProvider], **options: Any) -> Plan:
    observed = ObservedState.of(*(p.observe() for p in providers))
    return make_plan([desired(s) for s in specs], observed, PlanOptions(owner=OWNER, **options))


def clients(*providers: FakeProvider) -> dict[Provider, ProviderClient]:
    return {p.name: p for p in providers}


def test_creates_every_missing_job_once_and_a_second_plan_is_empty() -> None:
    fake = FakeProvider()
    specs = [spec(f"job-{i}") for i in range(5)]
    result = apply_plan(plan_for(specs, [fake]), clients(fake))
    assert result.ok
    assert [o.kind for o in result.outcomes] == [OutcomeKind.DONE] * 5
    assert sorted(j.name or "" for j in fake.jobs.values()) == [s.name for s in specs]
    assert plan_for(specs, [fake]).actionable == ()


def test_uploads_come_before_creates_and_creates_before_updates_and_deletes() -> None:
    fake = FakeProvider("qubrid")
    keep = fake.add("keep-me")
    fake.add("old-one")  # the repository's (it carries OWNER), and no spec names it: pruned
    segmind = FakeProvider("segmind")
    flip = segmind.add("flip-me", access="private")
    specs = [
        spec("keep-me", "qubrid"),
        spec("new-local", "segmind", local=True),
        spec("new-url", "segmind"),
        spec("flip-me", "segmind", access="public"),
    ]
    plan = plan_for(specs, [fake, segmind], prune=True)
    assert {c.action for c in plan.actionable} == {Action.CREATE, Action.UPDATE, Action.DELETE}
    result = apply_plan(plan, clients(fake, segmind), parallelism=1)
    assert result.ok, result.outcomes
    order = [c.split()[0] for c in segmind.calls]
    assert order == ["upload", "create", "create", "update"]
    assert segmind.jobs[flip].access == "public"
    assert fake.calls == ["delete qubrid-2"]
    assert fake.jobs[keep].health is Health.PENDING


def test_parallelism_bounds_the_requests_in_flight() -> None:
    fake = FakeProvider(delay=0.05)
    specs = [spec(f"job-{i}") for i in range(12)]
    result = ApplyExecutor(clients(fake), parallelism=3).apply(plan_for(specs, [fake]))
    assert result.ok
    assert fake.max_in_flight == 3


def test_parallelism_one_is_sequential() -> None:
    fake = FakeProvider(delay=0.01)
    result = apply_plan(plan_for([spec(f"j-{i}") for i in range(4)], [fake]), clients(fake))
    assert result.ok
    fake2 = FakeProvider(delay=0.01)
    apply_plan(plan_for([spec(f"j-{i}") for i in range(4)], [fake2]), clients(fake2), parallelism=1)
    assert fake2.max_in_flight == 1


def test_one_failure_does_not_stop_the_others_and_is_named() -> None:
    fake = FakeProvider()
    fake.refuse["job-2"] = "iterations must be at least 100"
    specs = [spec(f"job-{i}") for i in range(5)]
    result = apply_plan(plan_for(specs, [fake]), clients(fake))
    assert not result.ok
    failed = result.of_kind(OutcomeKind.FAILED)
    assert [(o.provider, o.name) for o in failed] == [("segmind", "job-2")]
    assert failed[0].message == "iterations must be at least 100 (HTTP 400)"
    assert len(result.of_kind(OutcomeKind.DONE)) == 4
    assert len(fake.jobs) == 4
    assert result.summary_line() == "Apply: 4 done, 1 failed, 0 blocked"


def test_a_failed_upload_skips_its_create_only() -> None:
    fake = FakeProvider()
    specs = [spec("bad", local=True), spec("good", local=True)]
    plan = plan_for(specs, [fake])
    bad_upload = next(c.upload for c in plan.changes if c.name == "bad")
    assert bad_upload is not None
    fake.refuse_uploads.add(bad_upload.remote_name)
    result = apply_plan(plan, clients(fake))
    by_name = {o.name: o for o in result.outcomes}
    assert by_name["bad"].kind is OutcomeKind.FAILED
    assert "dataset upload failed, job not submitted" in by_name["bad"].message
    assert "not a valid ZIP" in by_name["bad"].message
    assert by_name["good"].kind is OutcomeKind.DONE
    assert [j.name for j in fake.jobs.values()] == ["good"]


def test_a_lost_answer_after_commit_is_found_on_a_fresh_list_not_resubmitted() -> None:
    fake = FakeProvider()
    fake.lose_create_answers = 1
    result = apply_plan(plan_for([spec("only")], [fake]), clients(fake))
    assert result.ok
    assert fake.creates == 1
    assert len(fake.jobs) == 1
    (outcome,) = result.outcomes
    assert outcome.remote_id == next(iter(fake.jobs))
    assert "found it on a fresh list" in outcome.message


def test_lost_answers_at_the_same_time_share_one_fresh_list() -> None:
    fake = FakeProvider(delay=0.05)
    specs = [spec(f"job-{i}") for i in range(6)]
    plan = plan_for(specs, [fake])
    fake.lose_create_answers = 6
    fake.observe_delay = 0.2
    observes_before = fake.observes
    result = ApplyExecutor(clients(fake), parallelism=6).apply(plan)
    assert result.ok
    assert sorted(j.name or "" for j in fake.jobs.values()) == [s.name for s in specs]
    assert fake.creates == 6
    # Six lost answers, but far fewer lists: those under way were shared.
    assert 1 <= fake.observes - observes_before <= 2


def test_the_search_for_a_lost_create_pauses_twice_as_long_each_time_for_confirm_wait() -> None:
    assert CONFIRM_PAUSES == confirm_pauses(7.5) == (0.5, 1.0, 2.0, 4.0)
    assert confirm_pauses(0.3) == pytest.approx((0.02, 0.04, 0.08, 0.16))


def test_a_lost_answer_is_not_sent_again_within_the_settle_window() -> None:
    fake = FakeProvider()
    fake.lose_before_commit = 1  # nothing was made, but nothing can tell so yet
    pauses: list[float] = []
    executor = ApplyExecutor(clients(fake), sleep=pauses.append, confirm_pauses=(0.1, 0.2))
    result = executor.apply(plan_for([spec("only")], [fake]))
    assert not result.ok
    (outcome,) = result.outcomes
    assert outcome.kind is OutcomeKind.UNCONFIRMED
    assert "may or may not exist" in outcome.message
    assert "nothing is sent again until a list begun after" in outcome.message
    assert fake.creates == 1 and fake.jobs == {}
    assert pauses == [0.1, 0.2]  # three fresh lists looked for it
    (write,) = executor.journal.writes()
    assert (write.name, write.state) == ("only", WriteState.UNKNOWN)
    assert "1 unconfirmed" in result.summary_line()


def test_a_lost_answer_before_commit_is_sent_again_once_a_list_a_window_later_lacks_it() -> None:
    fake = FakeProvider()
    fake.lose_before_commit = 2
    observes_before = fake.observes
    executor = ApplyExecutor(clients(fake), settle_window=0.0)
    result = executor.apply(plan_for([spec("only")], [fake]))
    assert result.ok
    assert fake.creates == 3
    assert len(fake.jobs) == 1
    # One observe for the plan, one after each lost answer.
    assert fake.observes - observes_before == 1 + 2
    (write,) = executor.journal.writes() or (None,)
    assert write is None  # with no window, a confirmed create is settled at once


def test_answers_lost_every_time_end_unconfirmed_without_a_duplicate() -> None:
    fake = FakeProvider()
    fake.lose_before_commit = 100
    result = ApplyExecutor(clients(fake), unknown_outcome_attempts=3, settle_window=0.0).apply(
        plan_for([spec("only")], [fake])
    )
    assert not result.ok
    (outcome,) = result.outcomes
    assert outcome.kind is OutcomeKind.UNCONFIRMED
    assert fake.creates == 3 and fake.jobs == {}


def test_a_lost_answer_is_never_resent_when_the_list_cannot_be_read() -> None:
    fake = FakeProvider()
    plan = plan_for([spec("only")], [fake])
    fake.lose_before_commit = 1
    fake.observe_incomplete = True
    pauses: list[float] = []
    result = ApplyExecutor(
        clients(fake),
        unknown_outcome_attempts=4,
        sleep=pauses.append,
        settle_window=0.0,
        confirm_pauses=(0.1, 0.2, 0.3),
    ).apply(plan)
    (outcome,) = result.outcomes
    assert outcome.kind is OutcomeKind.UNCONFIRMED
    assert fake.creates == 1
    assert pauses == [0.1, 0.2, 0.3]  # the list was asked for 4 times, with pauses between


def test_a_list_that_fails_after_a_lost_answer_is_asked_for_again() -> None:
    fake = FakeProvider()
    plan = plan_for([spec("only")], [fake])
    fake.lose_create_answers = 1
    fake.incomplete_observes = 2
    pauses: list[float] = []
    result = ApplyExecutor(clients(fake), sleep=pauses.append).apply(plan)
    assert result.ok
    assert fake.creates == 1 and len(fake.jobs) == 1
    assert len(pauses) == 2


def test_a_replace_with_a_lost_answer_is_not_confused_with_the_job_it_replaces() -> None:
    fake = FakeProvider()
    old = fake.add("model")
    fake.jobs[old] = replace(fake.jobs[old], base_model="FLUX")
    plan = plan_for([spec("model", base_model="QWEN")], [fake], allow_replace=True)
    (change,) = plan.actionable
    assert change.action is Action.REPLACE
    fake.lose_before_commit = 1
    result = ApplyExecutor(clients(fake), settle_window=0.0).apply(plan)
    assert result.ok
    # Sent again after the list showed only the old job: exactly one new job.
    assert fake.creates == 2
    assert len(fake.jobs) == 2


def test_blocked_changes_are_skipped_and_make_the_result_fail() -> None:
    fake = FakeProvider()
    old = fake.add("model")
    fake.jobs[old] = replace(fake.jobs[old], base_model="FLUX")
    plan = plan_for([spec("model", base_model="QWEN"), spec("other")], [fake])
    result = apply_plan(plan, clients(fake))
    assert not result.ok
    blocked = result.of_kind(OutcomeKind.BLOCKED)
    assert [o.name for o in blocked] == ["model"]
    assert "base_model cannot change" in blocked[0].message
    assert "--allow-replace" in blocked[0].message
    assert fake.calls == ["create other"]


def test_an_empty_plan_is_ok_and_sends_nothing() -> None:
    fake = FakeProvider()
    fake.add("done", access="private")
    result = apply_plan(plan_for([spec("done")], [fake]), clients(fake))
    assert result.ok and result.outcomes == ()
    assert fake.calls == []


def test_a_provider_without_a_client_fails_its_changes_only() -> None:
    seg, qub = FakeProvider("segmind"), FakeProvider("qubrid")
    plan = plan_for([spec("a", "segmind"), spec("b", "qubrid")], [seg, qub])
    result = apply_plan(plan, clients(seg))
    by_name = {o.name: o.kind for o in result.outcomes}
    assert by_name == {"a": OutcomeKind.DONE, "b": OutcomeKind.FAILED}


def test_a_change_its_profile_declares_impossible_is_refused_without_a_request() -> None:
    # Only a plan file edited by hand holds one: Qubrid jobs have no access to flip, and
    # Segmind has no delete (its profile declares neither capability).
    qubrid, segmind = FakeProvider("qubrid"), FakeProvider("segmind")
    flip, old = qubrid.add("flip-me"), segmind.add("old-one")
    flip_spec = replace(spec("flip-me", "qubrid"), access="public")
    changes = (
        Change(
            Action.UPDATE,
            "qubrid",
            "flip-me",
            "by hand",
            desired=desired(flip_spec),
            target_id=flip,
        ),
        Change(
            Action.DELETE, "segmind", "old-one", "by hand", current=segmind.jobs[old], target_id=old
        ),
    )
    plan = Plan(changes, (), PlanOptions(owner=OWNER), snapshot="edited")
    result = apply_plan(plan, clients(qubrid, segmind))
    messages = {o.provider: o.message for o in result.of_kind(OutcomeKind.FAILED)}
    assert "Qubrid jobs cannot change their access in place" in messages["qubrid"]
    assert "Segmind has no delete" in messages["segmind"]
    assert qubrid.calls == segmind.calls == []


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def _record(self, event: str, value: int = 0) -> None:
        with self._lock:
            self.events.append((event, value))

    def begin(self, *, uploads: int, upload_bytes: int, submits: int) -> None:
        self._record("begin", upload_bytes)
        self._record("uploads", uploads)
        self._record("submits", submits)

    def uploaded(self, size: int) -> None:
        self._record("uploaded", size)

    def waiting(self) -> None:
        self._record("waiting")

    def validated(self) -> None:
        self._record("validated")

    def submitted(self) -> None:
        self._record("submitted")

    def end(self) -> None:
        self._record("end")


def test_progress_hears_of_every_upload_and_submit() -> None:
    fake = FakeProvider()
    progress = RecordingProgress()
    sink: ApplyProgress = progress
    specs = [spec("a", local=True), spec("b", local=True), spec("c")]
    assert apply_plan(plan_for(specs, [fake]), clients(fake), progress=sink).ok
    assert progress.events[:3] == [("begin", 2000), ("uploads", 2), ("submits", 3)]
    assert sorted(progress.events[3:-1]) == [
        ("submitted", 0),
        ("submitted", 0),
        ("submitted", 0),
        ("uploaded", 1000),
        ("uploaded", 1000),
    ]
    assert progress.events[-1] == ("end", 0)
    # Each upload is told which job it is for (Segmind signs FAST_FLUX uploads public).
    assert sorted(name or "" for name in fake.uploaded_for) == ["a", "b"]


@pytest.mark.parametrize("bad", [0, -1])
def test_parallelism_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ApplyExecutor({}, parallelism=bad)


def test_result_dict_names_every_outcome() -> None:
    fake = FakeProvider()
    fake.refuse["b"] = "no"
    result = apply_plan(plan_for([spec("a"), spec("b")], [fake]), clients(fake))
    document = result.to_dict()
    assert (document["done"], document["failed"], document["blocked"]) == (1, 1, 0)
    assert [(o["name"], o["outcome"]) for o in document["outcomes"]] == [
        ("a", "done"),
        ("b", "failed"),
    ]


SERVICE_REFUSED = "the fine-tuning API was switched off; move these specs elsewhere"
REFUSED_SHORT = "cohere refuses fine-tuning: see above"


@pytest.mark.parametrize("local", [False, True], ids=["create", "upload"])
def test_a_provider_refusing_the_service_gets_nothing_more_and_the_others_go_on(
    local: bool,
) -> None:
    cohere, segmind = FakeProvider("cohere"), FakeProvider("segmind")
    cohere.add("old", owner=OWNER)
    cohere.refuse_service = SERVICE_REFUSED
    specs = [spec(f"c-{i}", "cohere", local=local) for i in range(3)]
    specs += [spec("s-0"), spec("s-1")]
    plan = plan_for(specs, [cohere, segmind], prune=True)
    assert any(c.provider == "cohere" and c.action is Action.DELETE for c in plan.changes)
    executor = ApplyExecutor(clients(cohere, segmind), parallelism=1)

    result = executor.apply(plan)

    assert not result.ok
    # The first refused write ends the provider's run: nothing more goes out to it.
    assert len(cohere.calls) == 1, cohere.calls
    assert cohere.creates == (0 if local else 1)
    assert not any(call.startswith("delete") for call in cohere.calls)
    blocked = [o for o in result.outcomes if o.provider == "cohere"]
    assert len(blocked) == 4
    assert all(o.kind is OutcomeKind.BLOCKED for o in blocked)
    assert all(o.message.startswith(REFUSED_SHORT) for o in blocked)
    assert all(SERVICE_REFUSED not in o.message for o in blocked)
    # Said once, on the result.
    assert result.refusals == (ProviderRefusal("cohere", SERVICE_REFUSED),)
    assert result.to_dict()["refused"] == {"cohere": SERVICE_REFUSED}
    assert [o.kind for o in result.outcomes if o.provider == "segmind"] == [OutcomeKind.DONE] * 2
    # Refused (a 4xx) or never sent: the journal keeps no create of Cohere as possibly made.
    assert not [w for w in executor.journal.writes() if w.provider == "cohere"]
