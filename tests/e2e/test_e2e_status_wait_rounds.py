"""``status --wait`` as rounds (``reconciler.waiting``) against the sandbox over real HTTP,
with the pause between rounds replaced by a step of the sandbox's clock: the wait looks again
until the jobs it saw training are done, each finished Segmind job's details are read once
however many rounds see it, and a notifier shown each round announces every job once, in the
round that saw it finish."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler import outputs_cache
from reconciler.config import NotifySettings, load_settings, plan_options_for
from reconciler.core.observed import JobOutputs
from reconciler.notify import Notifier, RunInfo
from reconciler.outputs import OutputsKey
from reconciler.run import open_run
from reconciler.waiting import StatusReport, WaitEnd, wait_for_jobs
from tests.e2e.e2e_support import Cli, example_spec_names
from tests.support.capture import capture_server

EXAMPLES = example_spec_names()
DETAILS = "GET /segmind/finetune/request/details"


def test_rounds_go_on_until_every_job_is_done_and_announce_each_once(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    running.control.set_speed(0)
    running.control.clear_requests()
    settings = load_settings(repo, environ=running.env())
    healthy: list[int] = []

    with (
        capture_server() as receiver,
        open_run([], settings=settings, options=plan_options_for, early=False) as run,
    ):
        notifier = Notifier(
            NotifySettings("HOOK", "json"),
            receiver.url,
            repo / ".reconcile",
            sandbox=False,
            warn=lambda text: None,
            retry_wait=0.0,
        )

        def on_round(report: StatusReport) -> None:
            healthy.append(len(report.statuses) - len(report.not_done))
            notifier.jobs(report.statuses, RunInfo("status --wait"))

        def pause(seconds: float) -> None:
            # The simulated clock moves on (five minutes a pause): no real time passes.
            running.control.advance_clock(seconds)

        result = wait_for_jobs(run, timeout=None, interval=300.0, on_round=on_round, pause=pause)
        notifier.close()

    assert result.end is WaitEnd.DONE and result.rounds == len(healthy) > 2
    assert healthy[0] == 0 and healthy[-1] == len(EXAMPLES)
    assert healthy == sorted(healthy)  # jobs finish, none goes back
    events = [request.json() for request in receiver.requests]
    assert Counter(e["name"] for e in events) == Counter(name for _, name in EXAMPLES)
    assert {(e["event"], e["to"]) for e in events} == {("job.finished", "Healthy")}
    segmind = sum(1 for provider, _ in EXAMPLES if provider == "segmind")
    assert running.control.request_counts().get(DETAILS, 0) == segmind


def test_a_wait_recalls_the_remembered_outputs_once_however_many_rounds(
    reconcile: Cli, running: RunningSandbox, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reconcile().exit_code == 0
    running.control.set_speed(0)
    recalls: list[Path | None] = []
    recall = outputs_cache.recall_outputs

    def counted(file: Path | None) -> dict[OutputsKey, JobOutputs]:
        recalls.append(file)
        return recall(file)

    monkeypatch.setattr(outputs_cache, "recall_outputs", counted)

    def pause(seconds: float) -> None:
        running.control.advance_clock(seconds)

    settings = load_settings(repo, environ=running.env())
    with open_run([], settings=settings, options=plan_options_for, early=False) as run:
        result = wait_for_jobs(run, timeout=None, interval=300.0, pause=pause)
    assert result.end is WaitEnd.DONE and result.rounds > 2
    assert len(recalls) == 1
