"""The daemon on a thread against the sandbox over real HTTP: a new spec is created, access
flipped out of band is corrected by the next resync, an outage is survived and recovered from,
an invalid edit is reported and nothing applied until it is fixed, a burst of saves is one
run, and job status transitions are logged."""

from __future__ import annotations

import json
import time
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from reconciler.watch import Daemon, RunResult
from tests.watch.watch_support import (
    CapturedLog,
    daemon_in_thread,
    posts,
    segmind_jobs,
    wait_for,
    write_spec,
)


def last_result(daemon: Daemon) -> RunResult | None:
    return daemon.last_run.result if daemon.last_run is not None else None


def events(log: CapturedLog, name: str) -> list[dict[str, object]]:
    found = [json.loads(line) for line in log.lines()]
    return [entry for entry in found if entry["event"] == name]


def test_a_new_spec_is_created_and_access_drift_is_corrected_within_one_resync(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    log = CapturedLog()
    with daemon_in_thread(repo, log, interval=0.5) as daemon:
        assert segmind_jobs(sandbox) == []
        write_spec(repo, "fox-v1", access="private")
        job = wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 10.0, "the job to be created")[0]
        assert job["segmind_public"] == 0

        sandbox.control.set_fields("segmind", "jobs", job["id"], segmind_public=1)
        runs_at_flip = daemon.runs
        wait_for(
            lambda: segmind_jobs(sandbox, "fox-v1")[0]["segmind_public"] == 0,
            10.0,
            "access to be set back to private",
            lambda: (segmind_jobs(sandbox), log.text()),
        )
        # One resync after the flip sufficed (the one that saw it also corrected it).
        assert daemon.runs - runs_at_flip <= 2
        assert len(segmind_jobs(sandbox, "fox-v1")) == 1
        # The remote is corrected mid-run; the run counts it when it ends.
        metrics = wait_for(
            lambda: (
                text
                if "reconcile_drift_corrections_total 1.0"
                in (text := daemon.metrics.render().decode())
                else None
            ),
            10.0,
            "the correction to be counted",
            lambda: daemon.metrics.render().decode(),
        )
        assert 'reconcile_changes_applied_total{action="create"} 1.0' in metrics
    applied = [entry["message"] for entry in events(log, "change.applied")]
    assert any(str(m).startswith("create segmind/fox-v1") for m in applied), applied
    assert any(str(m).startswith("update segmind/fox-v1") for m in applied), applied


def test_an_outage_fails_runs_without_ending_the_daemon_and_it_recovers(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")
    with daemon_in_thread(repo, quick=True, interval=0.3, max_backoff=0.6) as daemon:
        assert last_result(daemon) is RunResult.SUCCESS
        for route in ("*", "/_objects/*"):
            sandbox.control.add_fault(kind="error", status=503, path=route)
        sandbox.control.add_fault(kind="drop", path="/segmind/*")
        wait_for(
            lambda: daemon.health().document["consecutive_failures"] >= 3,
            30.0,
            "three failed runs",
        )
        assert not daemon.health().healthy
        assert last_result(daemon) is RunResult.ERROR

        sandbox.control.clear_faults()
        write_spec(repo, "fox-v2")
        wait_for(lambda: segmind_jobs(sandbox, "fox-v2"), 15.0, "recovery and the new job")
        wait_for(lambda: daemon.health().healthy, 5.0, "healthy again")
        assert daemon.health().document["consecutive_failures"] == 0
        assert len(segmind_jobs(sandbox)) == 2


def test_an_invalid_edit_is_reported_and_nothing_applied_until_it_is_fixed(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    log = CapturedLog()
    with daemon_in_thread(repo, log, interval=0.4) as daemon:
        sandbox.control.clear_requests()
        good = write_spec(repo, "fox-v1")
        bad = repo / "specs" / "broken.yaml"
        bad.write_text(
            "apiVersion: reconciler/v1\nkind: FineTune\nname: broken\nprovider: segmind\n"
            "base_model: FLUX_PRO\ndataset: ../datasets/fox/\nacess: private\n"
        )
        wait_for(
            lambda: last_result(daemon) is RunResult.INVALID,
            10.0,
            "an invalid run",
        )
        runs = daemon.runs
        wait_for(lambda: daemon.runs >= runs + 2, 10.0, "two more resyncs")
        assert posts(sandbox) == 0
        assert segmind_jobs(sandbox) == []
        problems = events(log, "spec.invalid")
        # (A spec caught half-written by a save may be reported too; then it is complete.)
        assert any(
            "broken.yaml" in str(p["file"]) and "acess" in str(p["message"]) for p in problems
        ), problems
        # Reported once, not again on every resync while nothing changed.
        assert len({str(p["message"]) for p in problems}) == len(problems)

        bad.unlink()
        wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 10.0, "the job once fixed")
        assert good.exists()
    assert events(log, "specs.fixed")


def test_a_burst_of_saves_is_one_run(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    with daemon_in_thread(repo, interval=60.0) as daemon:
        before = daemon.runs
        for index in range(6):
            write_spec(repo, "fox-v1", access="private" if index % 2 else "public")
            time.sleep(0.01)
        wait_for(lambda: daemon.runs > before, 5.0, "a run after the saves")
        time.sleep(1.5)  # longer than the debounce: any second run would have started
        assert daemon.runs == before + 1
        assert 'reconcile_triggers_total{source="file"} 1.0' in daemon.metrics.render().decode()
        assert len(segmind_jobs(sandbox, "fox-v1")) == 1


def test_job_status_transitions_are_logged(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")
    log = CapturedLog()
    with daemon_in_thread(repo, log, interval=0.3) as daemon:
        job = wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 5.0, "the job")[0]
        wait_for(
            lambda: any(
                "fox-v1: missing -> " in str(e["message"]) for e in events(log, "job.transition")
            ),
            5.0,
            "the created job's first status",
        )
        sandbox.control.advance("segmind", "jobs", job["id"], to="AVAILABLE")
        wait_for(
            lambda: any(
                str(e["message"]).endswith("-> available") for e in events(log, "job.transition")
            ),
            5.0,
            "the transition to available",
        )
        assert daemon.metrics.jobs.labels(health="Healthy")._value.get() == 1


COHERE_SPEC = """apiVersion: reconciler/v1
kind: FineTune
name: chat-v1
provider: cohere
base_model:
  base_type: BASE_TYPE_CHAT
dataset: {id: some-dataset}
"""
REFUSAL = "Cohere deprecated its fine-tuning API on 2025-09-15"


def test_a_provider_that_refuses_is_logged_once_per_run_and_the_others_converge(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.finetuning": "deprecated"})
    write_spec(repo, "fox-v1")
    (repo / "specs" / "chat-v1.yaml").write_text(COHERE_SPEC)
    log = CapturedLog()
    with daemon_in_thread(repo, log) as daemon:
        assert last_result(daemon) is RunResult.ERROR
        assert daemon.last_run is not None
        assert "cohere refuses fine-tuning" in daemon.last_run.summary
    assert len(segmind_jobs(sandbox, "fox-v1")) == 1
    refused = events(log, "provider.refused")
    assert len(refused) == 1 and str(refused[0]["message"]).startswith(REFUSAL), refused
    # Said once: not again per blocked change, nor as an unreadable provider.
    assert log.text().count(REFUSAL) == 1, log.text()
    assert not events(log, "provider.unreadable") and not events(log, "change.blocked")
