"""Cohere refusing its deprecated fine-tuning WRITES while its lists still answer (the
``cohere.finetuning=deprecated-writes`` reading): the plan cannot know, so the apply finds out.
The first refused upload or create stops every Cohere write of the run; each Cohere change is
reported blocked with the short reason pointing at the message, which is said once (text,
markdown, JSON); nothing is created on Cohere, the other providers converge, and the run exits
1."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from reconcile_sandbox.cohere.tables import DATASETS_TABLE
from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, example_spec_names, job_rows, live_jobs

EXAMPLES = example_spec_names()
MESSAGE = "Cohere deprecated its fine-tuning API on 2025-09-15"
SHORT = "cohere refuses fine-tuning: see above"
COHERE_SPECS = [name for provider, name in EXAMPLES if provider == "cohere"]
READING = {"cohere.finetuning": "deprecated-writes"}


def _cohere_datasets(running: RunningSandbox) -> int:
    row = running.sandbox.store.query_one(f"SELECT count(*) AS n FROM {DATASETS_TABLE}")
    return int(row["n"])


def test_refused_cohere_writes_block_its_changes_with_one_message_and_the_rest_converge(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert COHERE_SPECS
    running.control.set_variants(**READING)

    result = reconcile()

    assert result.exit_code == 1, result.output
    others = Counter({key: n for key, n in Counter(EXAMPLES).items() if key[0] != "cohere"})
    assert live_jobs(running, repo) == others
    assert job_rows(running).get("cohere", 0) == 0
    assert _cohere_datasets(running) == 0
    # One cause, with what to do, said once; every Cohere change is blocked and points at it.
    assert result.output.count(MESSAGE) == 1, result.output
    assert result.output.count("Move these specs to another provider") == 1, result.output
    blocked = [line for line in result.output.splitlines() if "blocked create  cohere/" in line]
    assert len(blocked) == len(COHERE_SPECS), result.output
    assert all(SHORT in line for line in blocked), result.output
    assert "FAILED" not in result.output, result.output


def test_refused_cohere_writes_are_said_once_in_markdown_and_json(
    reconcile: Cli, running: RunningSandbox
) -> None:
    running.control.set_variants(**READING)

    markdown = reconcile("apply", "--auto-approve", "--output", "markdown")

    assert markdown.exit_code == 1, markdown.output
    assert markdown.stdout.count(MESSAGE) == 1, markdown.stdout
    # A second run is refused again (nothing was made): said once there too, in JSON.
    document = reconcile("apply", "--auto-approve", "--output", "json")

    assert document.exit_code == 1, document.output
    assert document.stdout.count(MESSAGE) == 1, document.stdout
    applied = json.loads(document.stdout)["apply"]
    assert MESSAGE in applied["refused"]["cohere"]
    cohere = [o for o in applied["outcomes"] if o["provider"] == "cohere"]
    assert len(cohere) == len(COHERE_SPECS)
    assert all(o["outcome"] == "blocked" and SHORT in o["message"] for o in cohere)
    assert job_rows(running).get("cohere", 0) == 0
    assert _cohere_datasets(running) == 0
