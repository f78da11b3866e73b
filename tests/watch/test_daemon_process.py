"""``reconcile --watch`` as a user runs it (the console script in a child process) against the
sandbox over real HTTP: edits converge, out-of-band drift is corrected, JSON log lines parse,
SIGTERM ends it cleanly within 5 s, and a second daemon on the same checkout refuses to start."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.watch.watch_support import (
    RECONCILE,
    SECRET,
    DaemonProcess,
    child_env,
    segmind_jobs,
    wait_for,
    write_spec,
)


@pytest.fixture
def daemon(repo: Path, sandbox_env: dict[str, str]) -> Iterator[DaemonProcess]:
    process = DaemonProcess(repo, sandbox_env, "--interval", "0.5", "--log-format", "json")
    try:
        wait_for(lambda: process.runs() >= 1, 20.0, "the daemon's first run")
        time.sleep(0.5)  # the file watcher is installed
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate(timeout=10)


def test_the_daemon_converges_edits_corrects_drift_and_stops_on_sigterm(
    daemon: DaemonProcess, sandbox: RunningSandbox, repo: Path
) -> None:
    write_spec(repo, "fox-v1", access="private")
    job = wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 10.0, "the job to be created")[0]
    sandbox.control.set_fields("segmind", "jobs", job["id"], segmind_public=1)
    wait_for(
        lambda: segmind_jobs(sandbox, "fox-v1")[0]["segmind_public"] == 0,
        10.0,
        "access set back to private",
        lambda: (segmind_jobs(sandbox), daemon.health(), daemon.http.get("/metrics").text),
    )
    # The remote is corrected mid-run; the run counts it when it ends.
    wait_for(
        lambda: "reconcile_drift_corrections_total 1.0" in daemon.http.get("/metrics").text,
        10.0,
        "the correction to be counted",
        lambda: daemon.http.get("/metrics").text,
    )

    code, stderr, took = daemon.stop()
    assert code == 0, stderr
    assert took < 5.0
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert all({"time", "level", "event", "message"} <= set(line) for line in lines)
    events = [line["event"] for line in lines]
    assert events[0] == "daemon.started"
    assert "daemon.stopping" in events and events[-1] == "daemon.stopped"
    assert any(
        line["event"] == "change.applied" and "update segmind/fox-v1" in line["message"]
        for line in lines
    )
    assert len(segmind_jobs(sandbox, "fox-v1")) == 1
    for key in sandbox.keys.values():
        assert key not in stderr
    assert SECRET not in stderr


def test_a_second_daemon_on_the_same_checkout_refuses_to_start(
    daemon: DaemonProcess, repo: Path, sandbox_env: dict[str, str]
) -> None:
    second = subprocess.run(
        [str(RECONCILE), "--watch"],
        cwd=repo,
        env=child_env(sandbox_env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == 1
    assert "another `reconcile --watch` already runs on this checkout" in second.stderr
    assert f"process {daemon.process.pid}" in second.stderr
    assert daemon.process.poll() is None  # the first one is unaffected
    code, stderr, _ = daemon.stop()
    assert code == 0, stderr


def test_a_bad_listen_address_is_refused(repo: Path, sandbox_env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(RECONCILE), "--watch", "--listen", "localhost"],
        cwd=repo,
        env=child_env(sandbox_env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "HOST:PORT" in result.stderr
    assert "Traceback" not in result.stderr
