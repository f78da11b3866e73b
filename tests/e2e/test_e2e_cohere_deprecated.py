"""Cohere refusing its deprecated fine-tuning API (the ``cohere.finetuning=deprecated`` reading):
every Cohere change is blocked, the message that says so and what to do is shown once (each
blocked change carries only a short reason pointing at it), the other providers converge, and
the run exits 1."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, example_spec_names, job_rows, live_jobs, plan_json

EXAMPLES = example_spec_names()
MESSAGE = "Cohere deprecated its fine-tuning API on 2025-09-15"
SHORT = "cohere refuses fine-tuning: see above"


def test_a_refused_cohere_blocks_its_changes_with_one_message_and_the_rest_converge(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.set_variants(**{"cohere.finetuning": "deprecated"})

    result = reconcile()

    assert result.exit_code == 1, result.output
    # Counted with fine-tuning back on, so that Cohere's list can be read: it holds nothing.
    running.control.set_variants(**{"cohere.finetuning": "available"})
    others = Counter({key: n for key, n in Counter(EXAMPLES).items() if key[0] != "cohere"})
    assert live_jobs(running, repo) == others
    assert job_rows(running).get("cohere", 0) == 0
    # One cause, with what to do, said once; every Cohere change is blocked and points at it.
    assert result.output.count(MESSAGE) == 1, result.output
    assert result.output.count("Move these specs to another provider") == 1, result.output
    assert "could duplicate or miss a job" not in result.output
    cohere_specs = [name for provider, name in EXAMPLES if provider == "cohere"]
    blocked = [line for line in result.output.splitlines() if "blocked create  cohere/" in line]
    assert len(blocked) == len(cohere_specs), result.output
    assert all(SHORT in line for line in blocked), result.output


def test_a_refused_cohere_is_said_once_in_markdown_and_json(
    reconcile: Cli, running: RunningSandbox
) -> None:
    running.control.set_variants(**{"cohere.finetuning": "deprecated"})

    markdown = reconcile("plan", "--output", "markdown")
    document = reconcile("plan", "--output", "json")

    assert markdown.exit_code == 1, markdown.output
    assert markdown.stdout.count(MESSAGE) == 1, markdown.stdout
    assert document.exit_code == 1, document.output
    assert document.stdout.count(MESSAGE) == 1, document.stdout
    changes = plan_json(document)["changes"]
    assert isinstance(changes, list)
    cohere = [change for change in changes if change["provider"] == "cohere"]
    assert cohere
    assert all(change["blocked"]["kind"] == "provider_refused" for change in cohere)
