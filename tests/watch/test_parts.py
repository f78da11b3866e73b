"""The daemon's parts on their own: the coalescing queue, the resync schedule, status
transitions, JSON log lines, and ``git pull --ff-only``."""

from __future__ import annotations

import io
import json
import logging
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from reconciler.core.observed import Health
from reconciler.redact import register_secret
from reconciler.status import JobStatus, Sync
from reconciler.watch.gitpull import pull_checkout
from reconciler.watch.logs import EventLog, JsonFormatter, TextFormatter
from reconciler.watch.schedule import JITTER_FRACTION, ResyncSchedule
from reconciler.watch.transitions import track_transitions
from reconciler.watch.triggers import Trigger, TriggerQueue


def test_triggers_arriving_together_are_taken_as_one() -> None:
    queue = TriggerQueue()
    for _ in range(1000):
        queue.put(Trigger.FILE)
    queue.put(Trigger.WEBHOOK)
    assert queue.take(0) == {Trigger.FILE, Trigger.WEBHOOK}
    assert queue.take(0) == frozenset()


def test_take_waits_for_a_trigger_and_close_wakes_it() -> None:
    queue = TriggerQueue()
    threading.Timer(0.05, queue.put, args=(Trigger.TIMER,)).start()
    started = time.monotonic()
    assert queue.take(5.0) == {Trigger.TIMER}
    assert time.monotonic() - started < 2.0
    threading.Timer(0.05, queue.close).start()
    assert queue.take(5.0) == frozenset()
    assert queue.closed


def test_backoff_doubles_up_to_the_cap_and_success_resets_it() -> None:
    schedule = ResyncSchedule(interval=60.0, max_backoff=300.0)
    assert [schedule.backoff(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    rng = random.Random(1)
    after_success = schedule.next_delay(consecutive_failures=0, jobs_in_progress=False, rng=rng)
    assert 60 * (1 - JITTER_FRACTION) <= after_success <= 60 * (1 + JITTER_FRACTION)


def test_training_jobs_are_polled_faster_but_not_below_the_floor() -> None:
    rng = random.Random(2)
    assert ResyncSchedule(60.0, 300.0).fast_interval() == 15.0
    assert ResyncSchedule(10.0, 300.0).fast_interval() == 5.0
    assert ResyncSchedule(1.0, 300.0).fast_interval() == 1.0
    delays = [
        ResyncSchedule(60.0, 300.0).next_delay(
            consecutive_failures=0, jobs_in_progress=True, rng=rng
        )
        for _ in range(200)
    ]
    assert min(delays) >= 15 * (1 - JITTER_FRACTION) and max(delays) <= 15 * (1 + JITTER_FRACTION)
    assert max(delays) - min(delays) > 1.0  # jitter is there


def status(name: str, raw: str | None, health: Health) -> JobStatus:
    return JobStatus("segmind", name, Sync.SYNCED, health, "id-1" if raw else None, raw, "")


def test_transitions_compare_each_run_with_the_previous_one() -> None:
    first, changes = track_transitions(
        {}, [status("mascot-v1", "TRAINING_INITIATED", Health.PROGRESSING)]
    )
    assert changes == []
    second, changes = track_transitions(first, [status("mascot-v1", "AVAILABLE", Health.HEALTHY)])
    assert [str(c) for c in changes] == ["mascot-v1: training_initiated -> available"]
    # An outage keeps the last label instead of logging "-> unknown" and back.
    third, changes = track_transitions(second, [status("mascot-v1", None, Health.UNKNOWN)])
    assert changes == [] and third == second
    # A job whose spec is gone drops out: the map stays as large as the specs.
    fourth, _ = track_transitions(third, [status("other-v1", None, Health.MISSING)])
    assert list(fourth) == [("segmind", "other-v1")]


def test_json_log_lines_parse_and_carry_no_secret() -> None:
    secret = "sk-live-abcdef123456"
    register_secret(secret)
    stream = io.StringIO()
    logger = logging.getLogger("reconciler.watch.test.json")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    log = EventLog(logger)
    log.info("run.finished", "plan: 1 create", result="success", duration="0.10s")
    log.error("provider.unreadable", f"segmind said: bad key {secret}", provider="segmind")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    documents = [json.loads(line) for line in lines]
    assert documents[0]["event"] == "run.finished"
    assert documents[0]["level"] == "info"
    assert documents[0]["result"] == "success"
    assert documents[0]["time"].endswith("Z")
    assert documents[1]["provider"] == "segmind"
    assert secret not in stream.getvalue()


def test_text_log_lines_name_the_event_and_fields() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "mascot-v1: training -> available", None, None
    )
    record.event = "job.transition"
    record.fields = {"provider": "segmind"}
    line = TextFormatter().format(record)
    assert "INFO" in line and "job.transition: mascot-v1: training -> available" in line
    assert line.endswith("(provider=segmind)")


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return result.stdout


@pytest.fixture
def clone(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote with one commit, a clone of it, and a second clone to push from."""
    if shutil.which("git") is None:
        pytest.fail("git is needed for the --pull tests")
    remote, author = tmp_path / "remote.git", tmp_path / "author"
    git(tmp_path, "init", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", str(remote), str(author))
    for key, value in (("user.email", "t@example.invalid"), ("user.name", "t")):
        git(author, "config", key, value)
    (author / "a.txt").write_text("one\n")
    git(author, "add", "a.txt")
    git(author, "commit", "-m", "one")
    git(author, "push", "origin", "HEAD:main")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", str(remote), str(checkout))
    return checkout, author


def test_pull_fast_forwards_the_checkout(clone: tuple[Path, Path]) -> None:
    checkout, author = clone
    assert pull_checkout(checkout).changed is False
    (author / "a.txt").write_text("two\n")
    git(author, "commit", "-am", "two")
    git(author, "push", "origin", "HEAD:main")
    result = pull_checkout(checkout)
    assert result.ok and result.changed, result
    assert (checkout / "a.txt").read_text() == "two\n"


def test_a_failed_pull_is_reported_and_leaves_the_checkout_as_it_was(
    clone: tuple[Path, Path], tmp_path: Path
) -> None:
    checkout, _ = clone
    shutil.rmtree(tmp_path / "remote.git")
    result = pull_checkout(checkout)
    assert not result.ok
    assert result.message
    assert (checkout / "a.txt").read_text() == "one\n"
