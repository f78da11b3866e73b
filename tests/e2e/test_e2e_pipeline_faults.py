"""The pipelined apply against the sandbox over real HTTP when something goes wrong in a stage:
the apply always ends, with each job submitted at most once.

The sandbox's clock stands still (speed 0) where a dataset must stay validating; the pollers'
pause drives it, so every step is an event, not a timing."""

from __future__ import annotations

import errno
import io
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.apply.executor import ApplyExecutor
from reconciler.core.observed import WriteState
from reconciler.core.outcome import ApplyResult, OutcomeKind
from reconciler.core.plan import Plan, Upload
from reconciler.core.spec import DesiredJob, Provider
from reconciler.providers.base import ProviderClient
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.http import RetryPolicy
from reconciler.providers.segmind.adapter import SegmindClient
from reconciler.views.progress import progress_for
from tests.e2e.test_e2e_pipeline import VALIDATION_SECONDS, Ticks, cohere_job, plan_against
from tests.support.providers import cohere_settings, image_folder, segmind_settings
from tests.support.segmind import flux_pro

# The most an apply of a job or two may take here; past it, the apply is taken as hung.
HUNG_AFTER_SECONDS = 30.0


def apply_or_hang(executor: ApplyExecutor, plan: Plan) -> ApplyResult:
    """``executor.apply(plan)``, failing the test (not hanging it) when it never returns."""
    results: list[ApplyResult] = []
    thread = threading.Thread(target=lambda: results.append(executor.apply(plan)), daemon=True)
    thread.start()
    thread.join(HUNG_AFTER_SECONDS)
    assert not thread.is_alive(), "the apply never ended: a job is waited for by nobody"
    (result,) = results
    return result


def test_a_dataset_list_with_a_date_out_of_range_ends_the_apply_with_the_job_submitted_once(
    running: RunningSandbox, tmp_path: Path
) -> None:
    # The plan's list of Cohere datasets shows someone else's dataset made in the year 1 (a
    # date no arithmetic may go below). The upload that follows takes that date as the bound
    # its list begins at; the poller waiting for its validation must not die of it.
    running.control.set_speed(0.0)
    running.control.add_fault(
        kind="status",
        status=200,
        method="GET",
        provider="cohere",
        path="/v1/datasets",
        count=1,
        body={
            "datasets": [
                {
                    "id": "not-ours",
                    "name": "someone-elses-dataset",
                    "validation_status": "validated",
                    "created_at": "0001-01-01T00:00:00Z",
                }
            ]
        },
    )
    cohere = CohereClient(cohere_settings(running))
    clients: dict[Provider, ProviderClient] = {"cohere": cohere}
    plan = plan_against(clients, [cohere_job(tmp_path, 0)])

    def on_tick(number: int) -> None:
        running.control.advance_clock(VALIDATION_SECONDS)

    try:
        executor = ApplyExecutor(clients, parallelism=2, validation_pause=Ticks(on_tick))
        result = apply_or_hang(executor, plan)
    finally:
        cohere.close()

    assert [outcome.kind for outcome in result.outcomes] == [OutcomeKind.DONE]
    counts = running.control.request_counts()
    assert counts["POST /cohere/v1/datasets"] == 1
    assert counts["POST /cohere/v1/finetuning/finetuned-models"] == 1


def _waiting_in_shutdown(thread: threading.Thread) -> bool:
    """Whether ``thread`` is shutting down a pool of workers (waiting for the ones at work)."""
    frame: FrameType | None = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "shutdown" and "concurrent" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C raises ``KeyboardInterrupt`` in the main thread, whatever a runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_after_ctrl_c_no_create_that_had_not_started_is_sent(
    running: RunningSandbox, tmp_path: Path
) -> None:
    # Two workers per stage. A Cohere upload and two Segmind creates are held by the sandbox;
    # a third Segmind job, uploaded, waits for a submit worker. Then Ctrl-C: the creates under
    # way end (the journal learns their ids), and nothing that had not started is sent, not
    # even once a worker is free while the apply waits for the upload under way.
    running.control.set_speed(0.0)
    holds = [
        running.control.add_fault(
            kind="slow", delay=600, method="POST", provider="cohere", path="/v1/datasets"
        ),
        running.control.add_fault(
            kind="slow",
            delay=600,
            method="POST",
            provider="segmind",
            path="/finetune/request/submit",
        ),
    ]
    upload_started = threading.Event()
    two_creates_started = threading.Event()
    third_uploaded = threading.Event()
    lock = threading.Lock()
    creates: list[str] = []
    uploads: list[str] = []

    class TellingCohere(CohereClient):
        def start_upload(self, upload: Upload, desired: DesiredJob | None = None) -> str:
            upload_started.set()
            return super().start_upload(upload, desired)

    class TellingSegmind(SegmindClient):
        def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
            ref = super().upload_dataset(upload, desired)
            with lock:
                uploads.append(ref)
                if len(uploads) == 3:
                    third_uploaded.set()
            return ref

        def create(self, desired: DesiredJob, dataset_ref: str) -> str:
            with lock:
                creates.append(desired.spec.name)
                if len(creates) == 2:
                    two_creates_started.set()
            return super().create(desired, dataset_ref)

    cohere = TellingCohere(cohere_settings(running))
    segmind = TellingSegmind(segmind_settings(running))
    clients: dict[Provider, ProviderClient] = {"cohere": cohere, "segmind": segmind}
    segmind_jobs = [
        flux_pro(image_folder(tmp_path, f"images-{index}"), name=f"mascot-{index}")
        for index in range(3)
    ]
    plan = plan_against(clients, [cohere_job(tmp_path, 0), *segmind_jobs])
    executor = ApplyExecutor(clients, parallelism=2)
    main = threading.main_thread()
    interrupted = threading.Event()

    def press_ctrl_c_then_release() -> None:
        for event in (upload_started, two_creates_started, third_uploaded):
            assert event.wait(timeout=HUNG_AFTER_SECONDS)
        signal.pthread_kill(main.ident or 0, signal.SIGINT)
        # The apply stops: it waits for the upload under way (and the creates) to end.
        while not _waiting_in_shutdown(main):
            interrupted.wait(0.01)
        interrupted.set()
        for rule in holds:
            running.control.remove_fault(rule)

    helper = threading.Thread(target=press_ctrl_c_then_release, daemon=True)
    try:
        with interruptible(), pytest.raises(KeyboardInterrupt):
            helper.start()
            executor.apply(plan)
    finally:
        helper.join(HUNG_AFTER_SECONDS)
        cohere.close()
        segmind.close()

    assert interrupted.is_set()
    counts = running.control.request_counts()
    assert counts.get("POST /segmind/finetune/request/submit", 0) == 2, creates
    assert counts.get("POST /cohere/v1/finetuning/finetuned-models", 0) == 0
    states = {write.name: write.state for write in executor.journal.writes()}
    sent = {name: states[name] for name in creates}
    assert set(sent.values()) == {WriteState.CONFIRMED}
    # What was never sent stays intended: the next run holds it back until it is settled.
    left = {name: state for name, state in states.items() if name not in creates}
    assert set(left.values()) == {WriteState.INTENDED} and len(left) == 2


class ClosedTerminal(io.StringIO):
    """A terminal that goes away once the bars are first drawn (a closed session: EIO)."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.getvalue():
            raise OSError(errno.EIO, "Input/output error")
        return super().write(text)


def test_a_terminal_that_goes_away_mid_apply_stops_the_bars_not_the_apply(
    running: RunningSandbox, tmp_path: Path
) -> None:
    segmind = SegmindClient(segmind_settings(running))
    clients: dict[Provider, ProviderClient] = {"segmind": segmind}
    plan = plan_against(clients, [flux_pro(image_folder(tmp_path))])
    progress = progress_for(ClosedTerminal(), for_people=True)
    try:
        result = apply_or_hang(ApplyExecutor(clients, progress=progress), plan)
    finally:
        segmind.close()

    assert [outcome.kind for outcome in result.outcomes] == [OutcomeKind.DONE]
    assert running.control.request_counts()["POST /segmind/finetune/request/submit"] == 1


def test_a_dataset_that_validates_after_the_apply_gave_up_on_it_is_reused_by_the_next_once(
    running: RunningSandbox, tmp_path: Path
) -> None:
    running.control.set_speed(0.0)
    desired = [cohere_job(tmp_path, 0)]
    # No patience at all: the first tick that shows the dataset still validating ends the wait.
    impatient = CohereClient(cohere_settings(running), validation_timeout=0.0)
    clients: dict[Provider, ProviderClient] = {"cohere": impatient}
    try:
        executor = ApplyExecutor(clients, validation_pause=lambda seconds: None)
        first = apply_or_hang(executor, plan_against(clients, desired))
    finally:
        impatient.close()
    ((outcome,),) = [first.outcomes]
    assert outcome.kind is OutcomeKind.FAILED and "still validating after" in outcome.message
    # Nothing was sent, so nothing is held back.
    assert executor.journal.writes() == ()

    running.control.advance_clock(VALIDATION_SECONDS)
    cohere = CohereClient(cohere_settings(running))
    clients = {"cohere": cohere}
    try:
        plan = plan_against(clients, desired)
        (change,) = plan.changes
        assert change.upload is None and change.reuse is not None
        second = apply_or_hang(ApplyExecutor(clients), plan)
        third = plan_against(clients, desired)
    finally:
        cohere.close()
    assert [o.kind for o in second.outcomes] == [OutcomeKind.DONE]
    assert not any(c.action.value == "create" for c in third.changes)
    counts = running.control.request_counts()
    assert counts["POST /cohere/v1/datasets"] == 1
    assert counts["POST /cohere/v1/finetuning/finetuned-models"] == 1


def test_a_create_refused_429_to_the_end_leaves_nothing_for_the_next_run_to_hold_back(
    running: RunningSandbox, tmp_path: Path
) -> None:
    # Every answer to the create is a 429: the provider did not take it, so the journal must
    # not keep it as possibly sent (the next run would hold the job back for a settle window
    # and report it as one that may exist).
    running.control.add_fault(
        kind="rate_limit",
        retry_after=0.0,
        method="POST",
        provider="segmind",
        path="/finetune/request/submit",
    )
    retry = RetryPolicy(attempts=3, sleep=lambda seconds: None)
    segmind = SegmindClient(segmind_settings(running), retry=retry)
    clients: dict[Provider, ProviderClient] = {"segmind": segmind}
    plan = plan_against(clients, [flux_pro(image_folder(tmp_path))])
    try:
        executor = ApplyExecutor(clients)
        result = apply_or_hang(executor, plan)
    finally:
        segmind.close()

    ((outcome,),) = [result.outcomes]
    assert outcome.kind is OutcomeKind.FAILED and "429" in outcome.message
    assert running.control.request_counts()["POST /segmind/finetune/request/submit"] == 3
    assert executor.journal.writes() == ()
