"""The quickstart, then time passing with no process up: ``reconcile --sandbox`` converges the
example specs and exits; a minute later (of real time: a seam moves the sandbox's saved stop
back, nothing sleeps) ``reconcile status --sandbox`` shows every job trained, as usage.md says
(60 simulated seconds per real second, whether or not a process is running)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from reconcile_sandbox.testing import pretend_stopped_earlier
from tests.e2e.e2e_support import Cli, copy_examples, example_spec_names


def _health(reconcile: Cli) -> Counter[str]:
    shown = reconcile("status", "--sandbox", "-o", "json")
    assert shown.exit_code == 0, shown.output
    jobs = json.loads(shown.output)["jobs"]
    assert len(jobs) == len(example_spec_names()), shown.output
    return Counter(job["health"] for job in jobs)


def test_status_after_the_quickstart_shows_the_jobs_trained_a_minute_later(
    tmp_path: Path,
) -> None:
    repo = copy_examples(tmp_path / "repo")
    reconcile = Cli(repo, {})  # no keys and no base URLs: --sandbox brings its own
    converged = reconcile("--sandbox")
    assert converged.exit_code == 0, converged.output

    # Straight after: nothing has had the simulated quarter of an hour a Segmind job takes.
    assert _health(reconcile)["Healthy"] < len(example_spec_names())

    pretend_stopped_earlier(repo / ".reconcile" / "sandbox", 60.0)  # a real minute: 1 h at 60x

    assert _health(reconcile) == Counter({"Healthy": len(example_spec_names())})
