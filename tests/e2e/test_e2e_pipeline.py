"""The pipelined apply against the sandbox over real HTTP: waiting for Cohere's dataset
validation holds no worker and costs one dataset list per tick, however many datasets wait, and
a Segmind job is submitted while a Cohere dataset is still validating.

The sandbox's clock stands still (speed 0): a dataset validates only when a test advances the
clock, which it does from the poller's pause between ticks, so every step is an event, not a
timing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.apply.executor import ApplyExecutor
from reconciler.core.observed import ObservedState
from reconciler.core.outcome import ApplyResult, OutcomeKind
from reconciler.core.plan import Plan, PlanOptions
from reconciler.core.spec import DesiredJob, Provider
from reconciler.diff import plan as make_plan
from reconciler.progress import NoProgress
from reconciler.providers.base import ProviderClient
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.segmind.adapter import SegmindClient
from tests.support.providers import (
    OWNER,
    chat_jsonl,
    cohere_settings,
    desired_for,
    image_folder,
    segmind_settings,
    spec,
)
from tests.support.segmind import flux_pro

VALIDATION_SECONDS = 7.0  # the sandbox's default latency for a Cohere dataset


def cohere_job(root: Path, index: int) -> DesiredJob:
    path = chat_jsonl(root, conversations=3 + index, name=f"chat-{index}.jsonl")
    return desired_for(
        spec(
            "cohere",
            f"helpdesk-{index}",
            path,
            base_model="command-r",
            base_type="BASE_TYPE_CHAT",
            dataset_type="chat-finetune-input",
        )
    )


def plan_against(clients: dict[Provider, ProviderClient], desired: Sequence[DesiredJob]) -> Plan:
    observed = ObservedState.of(*(client.observe() for client in clients.values()))
    return make_plan(desired, observed, PlanOptions(owner=OWNER))


def dataset_requests(running: RunningSandbox) -> tuple[int, int]:
    """(Cohere dataset lists, looks at one Cohere dataset) since the counters were cleared."""
    counts = running.control.request_counts()
    return counts.get("GET /cohere/v1/datasets", 0), counts.get("GET /cohere/v1/datasets/{id}", 0)


class Ticks:
    """The poller's pause between ticks: counts them, and calls ``on_tick`` with the number of
    the tick about to be made."""

    def __init__(self, on_tick: Callable[[int], None]) -> None:
        self.count = 0
        self._on_tick = on_tick

    def __call__(self, seconds: float) -> None:
        self.count += 1
        self._on_tick(self.count)


def test_waiting_datasets_cost_one_list_per_tick_whatever_their_number(
    running: RunningSandbox, tmp_path: Path
) -> None:
    running.control.set_speed(0.0)
    cohere = CohereClient(cohere_settings(running))
    clients: dict[Provider, ProviderClient] = {"cohere": cohere}
    desired = [cohere_job(tmp_path, index) for index in range(12)]
    plan = plan_against(clients, desired)
    lists_at_tick: list[tuple[int, int]] = []

    def on_tick(number: int) -> None:
        lists_at_tick.append(dataset_requests(running))
        # Three ticks with every dataset still validating, then the clock moves on at each
        # (a tick may come while the last uploads are still on their way).
        if number >= 4:
            running.control.advance_clock(VALIDATION_SECONDS)

    ticks = Ticks(on_tick)
    running.control.clear_requests()
    try:
        result = ApplyExecutor(clients, parallelism=4, validation_pause=ticks).apply(plan)
    finally:
        cohere.close()

    assert [outcome.kind for outcome in result.outcomes] == [OutcomeKind.DONE] * 12
    lists, looks = dataset_requests(running)
    # One list per tick for all twelve datasets, never a look at one of them alone.
    assert ticks.count >= 4
    assert lists == ticks.count
    assert [at[0] for at in lists_at_tick] == list(range(ticks.count))
    assert looks == 0
    assert running.control.request_counts()["POST /cohere/v1/datasets"] == 12


def test_a_segmind_job_is_submitted_while_a_cohere_dataset_is_still_validating(
    running: RunningSandbox, tmp_path: Path
) -> None:
    running.control.set_speed(0.0)
    segmind_created = threading.Event()

    class TellingSegmind(SegmindClient):
        def create(self, desired: DesiredJob, dataset_ref: str) -> str:
            remote_id = super().create(desired, dataset_ref)
            segmind_created.set()
            return remote_id

    cohere = CohereClient(cohere_settings(running))
    segmind = TellingSegmind(segmind_settings(running))
    clients: dict[Provider, ProviderClient] = {"cohere": cohere, "segmind": segmind}
    plan = plan_against(clients, [cohere_job(tmp_path, 0), flux_pro(image_folder(tmp_path))])
    seen_when_segmind_was_created: list[dict[str, Any]] = []

    def on_tick(number: int) -> None:
        # The Cohere dataset validates only once the Segmind job exists: were the Segmind
        # submit waiting behind it (one worker, held by the wait), this would never happen.
        assert segmind_created.wait(timeout=60), "the Segmind job was not submitted"
        if not seen_when_segmind_was_created:
            seen_when_segmind_was_created.append(running.control.request_counts())
            running.control.advance_clock(VALIDATION_SECONDS)

    running.control.clear_requests()
    try:
        result = ApplyExecutor(clients, parallelism=1, validation_pause=Ticks(on_tick)).apply(plan)
    finally:
        cohere.close()
        segmind.close()

    assert {(o.change.provider, o.kind) for o in result.outcomes} == {
        ("cohere", OutcomeKind.DONE),
        ("segmind", OutcomeKind.DONE),
    }
    (before,) = seen_when_segmind_was_created
    assert before.get("POST /cohere/v1/finetuning/finetuned-models", 0) == 0
    assert before["POST /segmind/finetune/request/submit"] == 1
    counts = running.control.request_counts()
    assert counts["POST /cohere/v1/finetuning/finetuned-models"] == 1


class FailingProgress(NoProgress):
    """A progress display whose ``event`` call raises, once."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.raised = False

    def _maybe_raise(self, event: str) -> None:
        if event == self.event and not self.raised:
            self.raised = True
            raise OSError(f"the display broke at {event}")

    def validated(self) -> None:
        self._maybe_raise("validated")

    def submitted(self) -> None:
        self._maybe_raise("submitted")


@pytest.mark.parametrize("event", ["validated", "submitted"])
def test_a_stage_that_raises_unexpectedly_still_ends_its_job_and_the_apply(
    running: RunningSandbox, tmp_path: Path, event: str
) -> None:
    # The apply waits for every job to end: one left without an outcome would hold it forever.
    running.control.set_speed(0.0)
    cohere = CohereClient(cohere_settings(running))
    clients: dict[Provider, ProviderClient] = {"cohere": cohere}
    plan = plan_against(clients, [cohere_job(tmp_path, 0)])
    progress = FailingProgress(event)
    done: list[ApplyResult] = []

    def on_tick(number: int) -> None:
        running.control.advance_clock(VALIDATION_SECONDS)

    executor = ApplyExecutor(
        clients, parallelism=1, progress=progress, validation_pause=Ticks(on_tick)
    )
    applying = threading.Thread(target=lambda: done.append(executor.apply(plan)), daemon=True)
    try:
        applying.start()
        applying.join(timeout=60)
    finally:
        cohere.close()
    assert done, "the apply never ended"
    assert progress.raised
    (outcome,) = done[0].outcomes
    submits = running.control.request_counts().get("POST /cohere/v1/finetuning/finetuned-models", 0)
    if event == "validated":  # before the submit: nothing sent, the job failed with the error
        assert outcome.kind is OutcomeKind.FAILED
        assert "the display broke at validated" in outcome.message
        assert submits == 0
    else:  # after the submit: what it did stands
        assert outcome.kind is OutcomeKind.DONE
        assert submits == 1
