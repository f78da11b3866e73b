"""A converge of 100 specs that survives faults of every kind in one run, and an apply killed
with SIGKILL at random moments that a rerun finishes, with the writer lease on a git remote in
play: exactly one job per spec either way."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.conftest import SPEED
from tests.e2e.e2e_support import (
    RECONCILE,
    Cli,
    child_env,
    job_rows,
    live_jobs,
    sandbox_env,
    write_generated_specs,
)
from tests.support.repos import GIT_ENVIRONMENT, git, published

SPECS = 100
FAULT_SEED = 20261124


def add_faults(running: RunningSandbox, total: float, *, seed: int) -> None:
    """Faults of every kind on every provider and object-store route, ``total`` of requests
    in all (each kind an equal share; a slow answer may combine with another fault)."""
    kinds: list[dict[str, Any]] = [
        {"kind": "error", "status": 500},
        {"kind": "error", "status": 502},
        {"kind": "error", "status": 503},
        {"kind": "rate_limit", "retry_after": 1},
        {"kind": "drop"},
        {"kind": "lost_response"},
        {"kind": "slow", "delay": 0.2},
    ]
    # 1 - (1 - p)^k = total, for k independent rules of probability p each.
    share = 1 - (1 - total) ** (1 / len(kinds))
    for offset, rule in enumerate(kinds):
        running.control.add_fault(path="*", probability=share, seed=seed + offset, **rule)


def test_a_converge_of_100_specs_survives_30_percent_faults_in_one_run(
    tmp_path: Path, running: RunningSandbox
) -> None:
    root = tmp_path / "many"
    root.mkdir()
    expected = Counter(write_generated_specs(root, SPECS))
    reconcile = Cli(root, sandbox_env(running))
    add_faults(running, 0.30, seed=FAULT_SEED)

    result = reconcile("--parallelism", "8")
    assert result.exit_code == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"Apply: {SPECS} done, 0 failed, 0 blocked" in result.stdout

    # The faults were really in the way: every kind fired, lost creates among them.
    log = running.control.request_log(limit=10_000)
    fired = Counter(entry["fault"] for entry in log if entry["fault"])
    assert set(fired) >= {"error", "rate_limit", "drop", "lost_response", "slow"}, fired
    assert 0.2 < sum(fired.values()) / len(log) < 0.45, (fired, len(log))
    lost_creates = [e for e in log if e["fault"] == "lost_response" and e["method"] == "POST"]
    assert lost_creates
    running.control.clear_faults()
    assert sum(job_rows(running).values()) == SPECS
    assert live_jobs(running, root) == expected
    assert reconcile("plan", "--detailed-exitcode").exit_code == 0


def write_requests(running: RunningSandbox) -> int:
    """Write requests the sandbox has answered (or faulted) so far."""
    return sum(
        count
        for route, count in running.control.request_counts().items()
        if not route.startswith("GET ")
    )


def test_an_apply_killed_at_random_moments_then_rerun_ends_with_one_job_per_spec(
    tmp_path: Path, running: RunningSandbox
) -> None:
    # A clone of a repository on disk: each apply takes the writer lease on that remote, and a
    # killed one leaves it held, with its journal, for the next to take over.
    def ignore_state(folder: Path) -> None:
        (folder / ".gitignore").write_text(".reconcile/\n")

    _, (root,) = published(tmp_path / "killed", ignore_state, clones=1)
    expected = Counter(write_generated_specs(root, SPECS))
    reconcile = Cli(root, sandbox_env(running))
    chooser = random.Random(FAULT_SEED)
    env = child_env(reconcile.env, GIT_ENVIRONMENT)
    kills = 0
    for _ in range(5):
        # Killed right after its N-th write request (an upload or a create) has reached the
        # provider: a moment chosen by what the apply has done, not by the clock.
        target = write_requests(running) + chooser.randint(1, 12)
        child = subprocess.Popen(
            [str(RECONCILE), "--parallelism", "4"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while child.poll() is None and write_requests(running) < target:
            time.sleep(0.005)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(timeout=60)
    assert kills >= 3, "the applies finished before their N-th write"
    assert 0 < sum(job_rows(running).values()) <= SPECS

    final = reconcile.subprocess("--parallelism", "4", timeout=300, extra_env=GIT_ENVIRONMENT)
    assert final.returncode == 0, final.stdout[-4000:] + final.stderr[-2000:]
    # Every apply wrote through the lease on the remote, and released it at the end.
    assert git(root, "ls-remote", "origin", "refs/reconcile/lease")
    running.control.clear_faults()
    assert sum(job_rows(running).values()) == SPECS
    assert live_jobs(running, root) == expected
    again = reconcile("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.stdout[-2000:]


STAGE_SPECS = 30  # ten per provider, each with a dataset of its own
STAGE_DEADLINE_SECONDS = 120.0


def route_count(running: RunningSandbox, *routes: str) -> int:
    counts = running.control.request_counts()
    return sum(counts.get(route, 0) for route in routes)


def cohere_datasets(running: RunningSandbox) -> Counter[str]:
    """Cohere datasets by name (our names carry the spec and the fingerprint)."""
    rows = running.sandbox.store.query("SELECT name FROM cohere_datasets")
    return Counter(str(row["name"]) for row in rows)


def in_stage(running: RunningSandbox, stage: str, chooser: random.Random) -> Callable[[], bool]:
    """Whether an apply of the generated specs has reached a moment of ``stage``: past its
    N-th upload request, waiting for every Cohere dataset to validate (the clock stands still,
    so none can) with every other job submitted, or past its N-th create request."""
    if stage == "upload":
        target = chooser.randint(1, 10)
        return lambda: route_count(running, *UPLOAD_ROUTES) >= target
    if stage == "submit":
        target = chooser.randint(1, 15)
        return lambda: route_count(running, *CREATE_ROUTES) >= target
    others = STAGE_SPECS * 2 // 3
    return lambda: (
        len(cohere_datasets(running)) >= STAGE_SPECS // 3
        and job_rows(running)["segmind"] + job_rows(running)["qubrid"] >= others
    )


UPLOAD_ROUTES = (
    "POST /cohere/v1/datasets",
    "POST /qubrid/api/v1/fine-tuning/datasets",
    "PUT /_objects/{bucket}/{key:path}",
)
CREATE_ROUTES = (
    "POST /cohere/v1/finetuning/finetuned-models",
    "POST /qubrid/api/v1/fine-tuning/jobs",
    "POST /segmind/finetune/request/submit",
)


@pytest.mark.parametrize("stage", ["upload", "waiting", "submit"])
def test_killed_in_each_stage_under_30_percent_faults_a_rerun_leaves_one_job_per_spec(
    stage: str, tmp_path: Path, running: RunningSandbox
) -> None:
    root = tmp_path / stage
    root.mkdir()
    expected = Counter(write_generated_specs(root, STAGE_SPECS))
    reconcile = Cli(root, sandbox_env(running))
    chooser = random.Random(f"{FAULT_SEED}-{stage}")
    add_faults(running, 0.30, seed=FAULT_SEED + len(stage))
    if stage == "waiting":
        running.control.set_speed(0.0)  # no Cohere dataset validates until the rerun
    reached = in_stage(running, stage, chooser)
    child = subprocess.Popen(
        [str(RECONCILE), "--parallelism", "4"],
        cwd=root,
        env=child_env(reconcile.env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + STAGE_DEADLINE_SECONDS
    while child.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert child.poll() is None, f"the apply ended before it reached the {stage} stage"
    assert reached(), f"the apply did not reach the {stage} stage"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    if stage == "waiting":
        assert job_rows(running)["cohere"] == 0  # killed while it waited for them all
    uploaded_before = cohere_datasets(running)

    running.control.set_speed(SPEED)
    final = reconcile.subprocess("--parallelism", "4", timeout=300)
    assert final.returncode == 0, final.stdout[-4000:] + final.stderr[-2000:]
    running.control.clear_faults()
    assert sum(job_rows(running).values()) == STAGE_SPECS
    assert live_jobs(running, root) == expected
    if stage == "waiting":
        # Every Cohere dataset was uploaded before the kill, still validating: the rerun waited
        # for them rather than upload them again.
        assert cohere_datasets(running) == uploaded_before
    again = reconcile("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.stdout[-2000:]
