"""One writer across machines: two clones of one repository (a bare repository on disk as
their git remote) applying at the same moment take turns through the writer lease on that
remote, and every spec gets exactly one job, every time."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import (
    RECONCILE,
    REPO,
    child_env,
    example_spec_names,
    job_rows,
    live_jobs,
    sandbox_env,
)
from tests.support.repos import GIT_ENVIRONMENT, TEST_OWNER, git, published

EXAMPLES = example_spec_names()
# The rounds leave Cohere's specs out (see ``examples_with``).
WITHOUT_COHERE = [(provider, name) for provider, name in EXAMPLES if provider != "cohere"]
ROUNDS = 20
SEED = 20261205


def examples_with(config: str, *, cohere: bool = True) -> Callable[[Path], None]:
    """The example specs and datasets, committed with ``config`` in ``reconciler.yaml``;
    without ``cohere``, its specs are left out (each Cohere upload waits two seconds for its
    validation, which a test of many rounds does not need)."""

    def fill(root: Path) -> None:
        shutil.copytree(REPO / "specs", root / "specs")
        shutil.copytree(REPO / "datasets", root / "datasets")
        if not cohere:
            for spec in (root / "specs").glob("cohere-*.yaml"):
                spec.unlink()
        (root / "reconciler.yaml").write_text(f"owner: {TEST_OWNER}\n{config}")
        (root / ".gitignore").write_text(".reconcile/\n")

    return fill


def start_apply(clone: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(RECONCILE), "apply"],
        cwd=clone,
        env=child_env(env, GIT_ENVIRONMENT),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_clones_applying_at_once_make_one_job_per_spec_every_time(
    tmp_path: Path, running: RunningSandbox
) -> None:
    chooser = random.Random(SEED)
    env = sandbox_env(running)
    waited = 0
    for round_number in range(ROUNDS):
        running.control.reset()
        # The second apply waits for the lease (looking at it every 50 ms), then plans under
        # it and finds the jobs made.
        _, clones = published(
            tmp_path / f"round-{round_number}",
            examples_with("lock_timeout: 120\nlock_poll: 0.05\n", cohere=False),
        )
        offsets = [chooser.uniform(0.0, 0.4) for _ in clones]
        children = []
        started = time.monotonic()
        for clone, offset in sorted(zip(clones, offsets, strict=True), key=lambda p: p[1]):
            time.sleep(max(0.0, started + offset - time.monotonic()))
            children.append(start_apply(clone, env))
        outputs = [child.communicate(timeout=240) for child in children]
        for child, (stdout, stderr) in zip(children, outputs, strict=True):
            assert child.returncode == 0, f"round {round_number}:\n{stdout[-3000:]}{stderr[-3000:]}"
        waited += sum("waiting up to" in stderr for _, stderr in outputs)
        assert sum(job_rows(running).values()) == len(WITHOUT_COHERE), f"round {round_number}"
        assert live_jobs(running, clones[0]) == Counter(WITHOUT_COHERE), f"round {round_number}"
        # The lease is released, and it remembers the creates for the settle window.
        lease = git(clones[0], "ls-remote", "origin", "refs/reconcile/lease")
        assert lease.endswith("refs/reconcile/lease")
    # The applies did meet: in some rounds one waited for the other's lease.
    assert waited > 0


def test_an_apply_that_finds_the_lease_held_elsewhere_names_the_holder_and_writes_nothing(
    tmp_path: Path, running: RunningSandbox
) -> None:
    _, (first, second) = published(tmp_path, examples_with(""))
    env = sandbox_env(running)
    # The first clone's apply holds the lease while its slow creates are under way.
    running.control.add_fault(kind="slow", delay=3.0, method="POST", path="*/submit", count=1)
    holder = start_apply(first, env)
    deadline = time.monotonic() + 60
    while not git(first, "ls-remote", "origin", "refs/reconcile/lease"):
        assert time.monotonic() < deadline, "the first apply never took the lease"
        time.sleep(0.05)
    refused = subprocess.run(
        [str(RECONCILE), "apply"],
        cwd=second,
        env=child_env(env, GIT_ENVIRONMENT),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    stdout, stderr = holder.communicate(timeout=240)
    assert holder.returncode == 0, stdout[-2000:] + stderr[-2000:]
    if refused.returncode == 0:
        # The first apply finished before the second asked: it planned nothing to do.
        assert "Nothing to apply" in refused.stdout or "0 to create" in refused.stdout
    else:
        assert "the writer lease is held by `reconcile apply`" in refused.stderr
        assert "nothing was written" in refused.stderr
        assert "refs/reconcile/lease" in refused.stderr
    assert sum(job_rows(running).values()) == len(EXAMPLES)
