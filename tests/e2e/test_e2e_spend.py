"""Money is spent at most once, over real HTTP against the sandbox: a create whose answer is
lost (dropped, answered after the client's read timeout, or a 503 after the provider committed)
while the providers' lists lag behind is never sent a second time. The first run reports those
creates as unconfirmed and fails; the reruns settle them first and send nothing; once the lists
catch up, every spec has exactly one job."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.spec import PROVIDERS, Provider
from tests.e2e.e2e_support import (
    QUICK_SETTLING,
    Cli,
    example_spec_names,
    job_rows,
    live_jobs,
)

EXAMPLES = example_spec_names()
# The route of each provider's create, relative to its mount.
CREATE_ROUTES: dict[Provider, str] = {
    "segmind": "/finetune/request/submit",
    "qubrid": "/fine-tuning/jobs",
    "cohere": "/v1/finetuning/finetuned-models",
}
# Simulated seconds per real second: Cohere validates an upload in seven simulated seconds.
SPEED = 60.0
# Half a minute of list lag (in simulated seconds) outlasts a run's own search for the jobs it
# lost (CONFIRM_WAIT), and its reruns.
LAG = 30.0 * SPEED
# The run's search for a lost create's job, in seconds: short, and still five lists.
CONFIRM_WAIT = 0.3
# The three ways a create's answer goes missing after the provider made the job.
LOSSES: dict[str, dict[str, Any]] = {
    "lost": {"kind": "lost_response"},
    "late": {"kind": "slow", "after_commit": True, "delay": 2.0},  # the client waits 1 s
    "503": {"kind": "error", "status": 503, "after_commit": True},
}


def lose_every_create_while_lists_lag(running: RunningSandbox, loss: dict[str, Any]) -> None:
    running.control.set_speed(SPEED)
    for provider in PROVIDERS:
        running.control.add_fault(kind="list_lag", lag=LAG, provider=provider, method="GET")
        running.control.add_fault(
            provider=provider, method="POST", path=CREATE_ROUTES[provider], **loss
        )


def unconfirmed(result_json: str) -> list[tuple[str, str]]:
    outcomes = json.loads(result_json)["apply"]["outcomes"]
    return sorted((o["provider"], o["name"]) for o in outcomes if o["outcome"] == "unconfirmed")


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_lost_create_with_lagging_lists_is_never_sent_twice(
    loss: str, reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    config = f"confirm_wait: {CONFIRM_WAIT}\n"
    if loss == "late":
        config += "request_timeout: 1\n"
    (repo / "reconciler.yaml").write_text((repo / "reconciler.yaml").read_text() + config)
    lose_every_create_while_lists_lag(running, LOSSES[loss])

    first = reconcile("--output", "json")
    assert first.exit_code == 1, first.output
    assert unconfirmed(first.stdout) == sorted(EXAMPLES)
    assert sum(job_rows(running).values()) == len(EXAMPLES)  # each create was made, once

    for _ in range(2):  # the reruns settle first: the lists still lag, nothing is sent
        again = reconcile()
        assert again.exit_code == 1, again.output
        assert f"{len(EXAMPLES)} unconfirmed" in again.stdout
        assert "create (unconfirmed)" in again.stdout
        assert sum(job_rows(running).values()) == len(EXAMPLES)

    # Once the lag is over, the lists show every job: nothing is left to do.
    running.control.clear_faults()
    running.control.advance_clock(LAG)
    assert live_jobs(running, repo) == Counter(EXAMPLES)
    settled = reconcile("plan", "--detailed-exitcode")
    assert settled.exit_code == 0, settled.stdout
    assert sum(job_rows(running).values()) == len(EXAMPLES)


def test_a_create_that_never_happened_is_sent_again_once_a_list_a_window_later_lacks_it(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    # A short settle window (these lists do not lag): the run itself can settle the loss.
    (repo / "reconciler.yaml").write_text((repo / "reconciler.yaml").read_text() + QUICK_SETTLING)
    # Dropped before the provider did anything, but the client cannot know: outcome unknown.
    running.control.add_fault(
        kind="drop", provider="cohere", method="POST", path=CREATE_ROUTES["cohere"], count=1
    )
    result = reconcile("--output", "json")
    assert result.exit_code == 0, result.output
    assert unconfirmed(result.stdout) == []
    creates = [
        entry
        for entry in running.control.request_log(limit=5000)
        if entry["method"] == "POST" and entry["path"].endswith(CREATE_ROUTES["cohere"])
    ]
    assert [entry["fault"] for entry in creates].count("drop") == 1
    assert len(creates) == 3  # two specs, and the one lost create sent again once
    assert live_jobs(running, repo) == Counter(EXAMPLES)


def test_a_refused_create_is_not_held_back_as_unconfirmed_by_the_next_run(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    # A 400 says the provider made nothing: the next run sends the create at once, instead of
    # waiting out a settle window for a write that never happened.
    running.control.add_fault(
        kind="error",
        status=400,
        provider="qubrid",
        method="POST",
        path=CREATE_ROUTES["qubrid"],
        message="refused",
    )
    first = reconcile("--output", "json")
    assert first.exit_code == 1
    assert unconfirmed(first.stdout) == []
    running.control.clear_faults()
    second = reconcile("--output", "json")
    assert second.exit_code == 0, second.stdout
    assert unconfirmed(second.stdout) == []
    assert live_jobs(running, repo) == Counter(EXAMPLES)
