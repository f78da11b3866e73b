"""The daemon's notifications (``notify:`` in ``reconciler.yaml``), posted over real HTTP to a
capture server: a job it created finishing training is announced once, with its outputs,
neither again on the next resyncs nor by a restarted daemon; an apply that fails is announced
once however many resyncs fail the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.support.capture import CaptureServer, capture_server
from tests.support.repos import mark_repository
from tests.watch.watch_support import daemon_in_thread, segmind_jobs, wait_for, write_spec

HOOK_PATH = "/services/T0/B0/daemon-hook-secret"


@pytest.fixture
def receiver(
    repo: Path, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CaptureServer]:
    mark_repository(repo, config="notify:\n  webhook_url_env: TEAM_HOOK\n  format: json\n")
    with capture_server(HOOK_PATH) as capture:
        monkeypatch.setenv("TEAM_HOOK", capture.url)
        yield capture


def test_a_finished_job_is_announced_once_across_resyncs_and_restarts(
    sandbox: RunningSandbox, repo: Path, receiver: CaptureServer
) -> None:
    write_spec(repo, "fox-v1")
    with daemon_in_thread(repo, interval=0.2) as daemon:
        job = wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 10.0, "the job")[0]
        runs = daemon.runs
        wait_for(lambda: daemon.runs >= runs + 1, 10.0, "a run that sees the job")
        sandbox.control.advance("segmind", "jobs", job["id"], to="AVAILABLE")
        (request,) = receiver.wait_for_requests(1)
        runs = daemon.runs
        wait_for(lambda: daemon.runs >= runs + 2, 10.0, "two more resyncs")
    details_read = sandbox.control.request_counts()["GET /segmind/finetune/request/details"]
    with daemon_in_thread(repo, interval=0.2) as restarted:
        runs = restarted.runs
        wait_for(lambda: restarted.runs >= runs + 2, 10.0, "two resyncs after the restart")

    assert len(receiver.requests) == 1
    # The finished job's details were read once, on this machine: not again after a restart.
    assert details_read == 1
    assert sandbox.control.request_counts()["GET /segmind/finetune/request/details"] == 1
    body = request.json()
    assert (body["event"], body["name"], body["provider"], body["to"]) == (
        "job.finished",
        "fox-v1",
        "segmind",
        "Healthy",
    )
    assert body["remote_id"] == job["id"]
    assert body["outputs"]["slug"] == job["slug"]
    assert body["outputs"]["weights_url"].endswith(".safetensors")
    assert body["run"] == {"source": "daemon", "commit": None, "sandbox": False}
    assert "daemon-hook-secret" not in request.body.decode()


def test_a_failing_apply_is_announced_once(
    sandbox: RunningSandbox, repo: Path, receiver: CaptureServer
) -> None:
    sandbox.control.add_fault(
        kind="error", method="POST", path="/segmind/finetune/request/submit", status=400
    )
    write_spec(repo, "fox-v1")
    with daemon_in_thread(repo, interval=0.2) as daemon:
        (request,) = receiver.wait_for_requests(1)
        runs = daemon.runs
        wait_for(lambda: daemon.runs >= runs + 2, 10.0, "two more failing resyncs")

    assert len(receiver.requests) == 1
    body = request.json()
    assert body["event"] == "apply.failed"
    assert [(f["action"], f["name"]) for f in body["failures"]] == [("create", "fox-v1")]
