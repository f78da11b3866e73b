"""A provider whose key is missing, through the command line against the sandbox: the plan
says first that it could not be read and what to do (the key variable to set), counts its
specs as not planned and claims nothing about its jobs (no "no remote job has this name"),
while the providers that were read are planned as usual; text, markdown and JSON; exit 1;
and an apply sends nothing to it."""

from __future__ import annotations

import json

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, job_rows

NO_JOB = "no remote job has this name"


def without_segmind_key(reconcile: Cli) -> Cli:
    env = {k: v for k, v in reconcile.env.items() if k != "SEGMIND_API_KEY"}
    return Cli(reconcile.repo, env)


def test_the_missing_key_comes_first_and_its_specs_are_only_counted(reconcile: Cli) -> None:
    keyless = without_segmind_key(reconcile)
    text = keyless("plan")
    assert text.exit_code == 1
    lines = text.stdout.splitlines()
    assert lines[0].startswith("! segmind could not be read: ")
    assert "set SEGMIND_API_KEY" in lines[0]
    assert lines[1].strip().startswith("4 specs not planned: segmind could not be read")
    assert "segmind:" not in lines  # no section of segmind's jobs
    assert text.stdout.count(NO_JOB) == 4  # Qubrid's and Cohere's creates, read and planned
    assert lines[-1] == (
        "Plan: 4 to create, 0 to update, 0 to replace, 0 to delete; 0 unchanged; 0 blocked;"
        " 4 not planned"
    )

    markdown = keyless("plan", "-o", "markdown").stdout
    assert markdown.count(NO_JOB) == 4
    assert "> **segmind** could not be read: " in markdown
    assert "4 specs not planned: segmind could not be read" in markdown

    document = json.loads(keyless("plan", "-o", "json").stdout)
    assert {c["provider"] for c in document["changes"]} == {"cohere", "qubrid"}
    [unread] = document["incomplete"]
    assert unread["provider"] == "segmind" and "SEGMIND_API_KEY" in unread["error"]
    assert len(unread["not_planned"]) == 4


def test_an_apply_without_the_key_sends_nothing_there(
    reconcile: Cli, running: RunningSandbox
) -> None:
    result = without_segmind_key(reconcile)("apply")
    assert result.exit_code == 1
    assert "segmind could not be read" in result.stderr
    assert job_rows(running) == {"segmind": 0, "qubrid": 2, "cohere": 2}
