"""A daemon and a command-line apply on two clones of one repository (a bare repository on disk
as their git remote), started at the same moment against one sandbox: they take turns through
the writer lease on that remote, and every spec gets exactly one job, every round."""

from __future__ import annotations

import functools
import random
import subprocess
import time
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from reconciler.watch import RunResult
from tests.support.repos import GIT_ENVIRONMENT, TEST_OWNER, published
from tests.watch.watch_support import (
    RECONCILE,
    DaemonProcess,
    child_env,
    make_repo,
    segmind_jobs,
    wait_for,
    write_spec,
)

ROUNDS = 5
SPECS = 6
SEED = 20261205


def test_a_daemon_and_a_cli_apply_in_two_clones_make_one_job_per_spec(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    chooser = random.Random(SEED)
    created_by_cli: list[int] = []
    waited = 0
    for round_number in range(ROUNDS):
        sandbox.control.reset()
        names = [f"r{round_number}-fox-{index}" for index in range(SPECS)]

        def fill(root: Path, names: list[str] = names) -> None:
            make_repo(root)
            # The command line waits for the daemon's lease rather than failing, and either
            # looks at the lease the other holds every 50 ms.
            (root / "reconciler.yaml").write_text(
                f"owner: {TEST_OWNER}\nlock_timeout: 60\nlock_poll: 0.05\n"
            )
            (root / ".gitignore").write_text(".reconcile/\n")
            for name in names:
                write_spec(root, name)

        _, (first, second) = published(tmp_path / f"round-{round_number}", fill)
        # Slow creates keep each apply's lease held long enough for the other to meet it.
        sandbox.control.add_fault(kind="slow", delay=0.5, method="POST", path="*/submit")
        cli_first = chooser.random() < 0.5
        # The command line second starts right as the daemon's first create is in, while the
        # daemon holds the lease for its slowed creates; the daemon second starts after a
        # random offset, racing the command line's apply.
        offset = chooser.uniform(0.0, 0.5) if cli_first else 0.0
        starts: list[tuple[str, float]] = [("daemon", 0.0), ("cli", offset)]
        if cli_first:
            starts = [("cli", 0.0), ("daemon", offset)]
        daemon: DaemonProcess | None = None
        cli: subprocess.Popen[str] | None = None
        began = time.monotonic()
        try:
            for who, at in starts:
                time.sleep(max(0.0, began + at - time.monotonic()))
                if who == "daemon":
                    daemon = DaemonProcess(
                        first, sandbox_env, "--interval", "0.5", extra_env=GIT_ENVIRONMENT
                    )
                    if who == starts[0][0]:
                        # "The daemon first" means the daemon is applying first: on a loaded
                        # machine its start-up alone can outlast the command line's whole
                        # apply. The command line starts once the daemon's first create request
                        # is in (under the lease, each slowed).
                        wait_for(
                            functools.partial(creating, sandbox),
                            60.0,
                            f"round {round_number}: the daemon creating",
                            daemon.health,
                        )
                        began = time.monotonic()
                else:
                    cli = subprocess.Popen(
                        [str(RECONCILE), "apply"],
                        cwd=second,
                        env=child_env(sandbox_env, GIT_ENVIRONMENT),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
            assert daemon is not None and cli is not None
            stdout, stderr = cli.communicate(timeout=120)
            assert cli.returncode == 0, f"round {round_number}: {stdout[-2000:]}{stderr[-2000:]}"
            created_by_cli.append(stdout.count("ok      create"))
            waited += "waiting up to" in stderr
            # The daemon has converged once the CLI is done: a run that ends in sync.
            wait_for(
                functools.partial(in_sync, daemon),
                60.0,
                f"round {round_number}: the daemon in sync",
                daemon.health,
            )
        finally:
            for process in (daemon.process if daemon else None, cli):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.communicate(timeout=10)
        sandbox.control.clear_faults()
        for name in names:
            assert len(segmind_jobs(sandbox, name)) == 1, f"round {round_number}: {name}"
        assert len(segmind_jobs(sandbox)) == SPECS
    # They did meet: the command line waited for the daemon's lease, or each made some jobs.
    assert waited or any(0 < made < SPECS for made in created_by_cli), created_by_cli
    assert any(made < SPECS for made in created_by_cli), "the daemon never created a job"


def creating(sandbox: RunningSandbox) -> bool:
    """Whether a create request has reached the sandbox in this round."""
    return any(
        route.startswith("POST ") and route.endswith("/submit")
        for route in sandbox.control.request_counts()
    )


def in_sync(daemon: DaemonProcess) -> bool:
    """Whether the daemon's last run ended successfully with nothing left to do."""
    last = (daemon.health() or {}).get("last_run")
    if not isinstance(last, dict):
        return False
    return last["result"] == RunResult.SUCCESS.value and "in sync" in str(last["summary"])
