"""Status codes end to end (issue 13): a converge where every create is answered 204 (no id),
where one create's 2xx answer is unreadable, and where Cohere answers a create 409 twice, ends
with exactly one job per spec, and a second dry run has nothing to do."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, example_spec_names, job_rows, live_jobs

EXAMPLES = example_spec_names()
CREATES = {
    "segmind": "/segmind/finetune/request/submit",
    "qubrid": "/qubrid/api/v1/fine-tuning/jobs",
    "cohere": "/cohere/v1/finetuning/finetuned-models",
}


def converged_once(reconcile: Cli, running: RunningSandbox, repo: Path) -> str:
    """Converge, check one job per example spec and that nothing is left to do; the output."""
    first = reconcile()
    assert first.exit_code == 0, first.output
    assert live_jobs(running, repo) == Counter(EXAMPLES)
    assert sum(job_rows(running).values()) == len(EXAMPLES)
    dry = reconcile("--dry-run", "--detailed-exitcode")
    assert dry.exit_code == 0, dry.output
    return first.output


def creates_sent(running: RunningSandbox) -> int:
    log = running.control.request_log(limit=10_000)
    return sum(1 for e in log if e["method"] == "POST" and e["path"] in CREATES.values())


def test_creates_answered_204_are_found_on_the_lists_and_sent_once(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.set_variants(
        **{f"{provider}.create_status": "204" for provider in ("segmind", "qubrid", "cohere")}
    )

    output = converged_once(reconcile, running, repo)

    assert output.count("found it on a fresh list") == len(EXAMPLES)
    assert creates_sent(running) == len(EXAMPLES)


@pytest.mark.parametrize("provider", sorted(CREATES))
def test_an_unreadable_2xx_answer_to_a_create_is_settled_by_the_lists(
    reconcile: Cli, running: RunningSandbox, repo: Path, provider: str
) -> None:
    running.control.add_fault(
        kind="status",
        method="POST",
        path=CREATES[provider],
        status=200,
        body="<html>502 upstream</html>",
        content_type="text/html",
        count=1,
    )

    output = converged_once(reconcile, running, repo)

    assert "found it on a fresh list" in output
    assert "not JSON" not in output
    assert creates_sent(running) == len(EXAMPLES)


def test_a_cohere_create_answered_409_is_sent_again_as_the_sdk_would(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    cohere_specs = sum(1 for provider, _ in EXAMPLES if provider == "cohere")
    running.control.add_fault(
        kind="error", method="POST", path=CREATES["cohere"], status=409, count=2
    )

    converged_once(reconcile, running, repo)

    assert creates_sent(running) == len(EXAMPLES) + 2
    assert cohere_specs >= 1
