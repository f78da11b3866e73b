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
# More than any round's creates: a held rule is never used up, and its count tells it fired.
HOLD_COUNT = 1000


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
        cli_first = chooser.random() < 0.5
        # Daemon first: its creates are held at the sandbox (a slow fault) until the command
        # line, started once the first of them is in, says it is waiting for the daemon's
        # lease; removing the fault then lets them through. An event, not a clock: on a loaded
        # machine the command line's start-up alone can outlast any fixed delay.
        # Command line first: slowed creates, and the daemon after a random offset, racing it.
        delay = 0.5 if cli_first else 120.0
        hold = sandbox.control.add_fault(
            kind="slow", delay=delay, method="POST", path="*/submit", count=HOLD_COUNT
        )
        offset = chooser.uniform(0.0, 0.5) if cli_first else 0.0
        starts: list[tuple[str, float]] = [("daemon", 0.0), ("cli", offset)]
        if cli_first:
            starts = [("cli", 0.0), ("daemon", offset)]
        daemon: DaemonProcess | None = None
        cli: subprocess.Popen[str] | None = None
        cli_stderr = tmp_path / f"round-{round_number}-cli.err"
        began = time.monotonic()
        try:
            for who, at in starts:
                time.sleep(max(0.0, began + at - time.monotonic()))
                if who == "daemon":
                    daemon = DaemonProcess(
                        first, sandbox_env, "--interval", "0.5", extra_env=GIT_ENVIRONMENT
                    )
                    if who == starts[0][0]:
                        wait_for(
                            functools.partial(holding_a_create, sandbox, hold),
                            60.0,
                            f"round {round_number}: the daemon creating",
                            daemon.health,
                        )
                        began = time.monotonic()
                else:
                    with cli_stderr.open("w") as stderr_file:
                        cli = subprocess.Popen(
                            [str(RECONCILE), "apply"],
                            cwd=second,
                            env=child_env(sandbox_env, GIT_ENVIRONMENT),
                            stdout=subprocess.PIPE,
                            stderr=stderr_file,
                            text=True,
                        )
            assert daemon is not None and cli is not None
            if not cli_first:
                wait_for(
                    functools.partial(said_waiting, cli_stderr),
                    60.0,
                    f"round {round_number}: the command line waiting for the daemon's lease",
                    daemon.health,
                )
                sandbox.control.remove_fault(hold)
            stdout, _ = cli.communicate(timeout=120)
            stderr = cli_stderr.read_text()
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


def holding_a_create(sandbox: RunningSandbox, hold: int) -> bool:
    """Whether the fault ``hold`` has fired: a create request reached the sandbox (the request
    log records a request only once it is answered, which a held one is not yet)."""
    return any(
        rule["id"] == hold and rule["count"] < HOLD_COUNT for rule in sandbox.control.faults()
    )


def said_waiting(stderr_file: Path) -> bool:
    """Whether the command line said it is waiting for the writer lease."""
    return "waiting up to" in stderr_file.read_text()


def in_sync(daemon: DaemonProcess) -> bool:
    """Whether the daemon's last run ended successfully with nothing left to do."""
    last = (daemon.health() or {}).get("last_run")
    if not isinstance(last, dict):
        return False
    return last["result"] == RunResult.SUCCESS.value and "in sync" in str(last["summary"])
