"""Saved plans and partial runs through the command line, against the sandbox over real HTTP:
``reconcile show PLAN`` in each format, a stale plan refused saying what moved (the target,
the paths, a spec, a dataset, a remote job), ``--target NAME`` planning and applying only the
targets, and some PATHs leaving the other specs' jobs out rather than calling them unmanaged."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler import planfile
from reconciler.core.plan import Plan
from tests.e2e.e2e_support import Cli, example_spec_names, live_jobs, methods
from tests.support.repos import TEST_OWNER

EXAMPLES = example_spec_names()
QWEN = "specs/segmind-qwen.yaml"


def segmind_job_id(running: RunningSandbox, name: str) -> str:
    row = running.sandbox.store.query_one(
        "SELECT id FROM segmind_jobs WHERE name = ? ORDER BY created_sim DESC",
        (f"{TEST_OWNER}--{name}",),
    )
    assert row is not None, name
    return str(row["id"])


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_plan_out_with_json_output_makes_the_json_once(
    reconcile: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def counted(plan: Plan) -> str:
        made.append(to_json(plan))
        return made[-1]

    to_json = planfile.plan_to_json
    monkeypatch.setattr(planfile, "plan_to_json", counted)
    planned = reconcile("plan", "-o", "json", "--out", "plan.json")
    assert planned.exit_code == 0, planned.output
    assert made == [planned.stdout] and (repo / "plan.json").read_text() == planned.stdout


# --- reconcile show --------------------------------------------------------------------------


def test_show_prints_a_saved_plan_as_plan_showed_it_in_each_format(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile("--target", "mascot-qwen-v1").exit_code == 0
    running.control.set_speed(0.0)
    saved = repo / "plan.json"
    planned = reconcile("plan", "--out", str(saved))
    assert planned.exit_code == 0, planned.output
    running.control.clear_requests()

    text = reconcile("show", str(saved))
    assert text.exit_code == 0, text.output
    host = running.env()["SEGMIND_BASE_URL"].split("://", 1)[1].split("/", 1)[0]
    first, blank, *rest = text.stdout.splitlines(keepends=True)
    hosts = f"cohere at {host}, qubrid at {host}, segmind at {host}"
    assert first == f"Saved plan made for {hosts}; paths: specs\n" and blank == "\n"
    assert "".join(rest) == planned.stdout.rsplit("Saved the plan to", 1)[0]
    assert "1 job unchanged" in text.stdout

    assert reconcile("show", str(saved), "-o", "json").stdout == saved.read_text()
    markdown = reconcile("show", str(saved), "--output", "markdown")
    assert markdown.stdout == reconcile("plan", "-o", "markdown").stdout
    # A saved plan's markdown is the document alone (a pull request comment): no note of where
    # the file went on the machine that made it.
    again = repo / "again.json"
    assert reconcile("plan", "-o", "markdown", "--out", str(again)).stdout == markdown.stdout
    assert markdown.stdout.startswith("### reconcile plan")

    listed = reconcile("show", str(saved), "--show-unchanged")
    assert "mascot-qwen-v1" in listed.stdout and "unchanged (not listed" not in listed.stdout
    # Showing a plan reads the file only.
    assert set(methods(running)) <= {"GET"}


def test_show_refuses_what_is_not_a_readable_plan_in_one_line(reconcile: Cli, repo: Path) -> None:
    (repo / "newer.json").write_text('{"format_version": 99, "changes": []}')
    (repo / "garbage.json").write_text("not json {")
    (repo / "latin1.json").write_bytes(b"\xff\xfe{")
    cases = {
        "missing.json": "missing.json: cannot read the plan (No such file or directory)",
        "specs": "specs: cannot read the plan (Is a directory)",
        "newer.json": "newer.json: plan format version 99 is not supported",
        "garbage.json": "garbage.json: not JSON",
        "latin1.json": "latin1.json: not a plan file (not UTF-8 text)",
    }
    for name, message in cases.items():
        shown = reconcile("show", name)
        assert shown.exit_code == 1, name
        assert shown.stdout == ""
        line = one_line_error(shown.stderr)
        assert line.startswith(f"reconcile: {message}"), line
        assert "Traceback" not in line and "internal error" not in line


def test_show_refuses_a_hostile_plan_file_in_one_line(reconcile: Cli, repo: Path) -> None:
    # Nested past Python's recursion limit: json.loads raises RecursionError, not a ValueError.
    (repo / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (repo / "deep-object.json").write_text('{"a":' * 20_000 + "1" + "}" * 20_000)
    os.mkfifo(repo / "fifo.json")  # read until a writer comes: never, without the check
    cases = {
        "deep.json": "deep.json: not a plan: its JSON is nested too deeply",
        "deep-object.json": "deep-object.json: not a plan: its JSON is nested too deeply",
        "fifo.json": "fifo.json: not a plan file (not a regular file)",
    }
    for name, message in cases.items():
        # A child process: a file that blocks the reader fails the test instead of hanging it.
        shown = reconcile.subprocess("show", name, timeout=60)
        assert shown.returncode == 1, name
        assert shown.stdout == ""
        line = one_line_error(shown.stderr)
        assert line.startswith(f"reconcile: {message}"), line
        assert "Traceback" not in line and "internal error" not in line


# --- stale plans say what moved --------------------------------------------------------------


def test_a_plan_made_for_the_sandbox_is_refused_against_the_providers_before_any_write(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    saved = repo / "plan.json"
    assert reconcile("plan", "--sandbox", "--out", "plan.json").exit_code == 0
    assert json.loads(saved.read_text())["made_for"]["sandbox"] is True
    running.control.clear_requests()

    refused = reconcile("apply", "--plan", "plan.json")
    assert refused.exit_code == 1
    host = running.env()["SEGMIND_BASE_URL"].split("://", 1)[1].split("/", 1)[0]
    line = one_line_error(refused.stderr)
    assert line.startswith(
        "reconcile: plan.json: the saved plan is stale: it was made for the sandbox"
        f" (--sandbox), and is applied against cohere at {host}, qubrid at {host}, segmind at"
        f" {host};"
    ), line
    assert "the specs, the datasets or the remote jobs changed" not in line
    assert set(methods(running)) <= {"GET"}  # the lists were read, nothing was written
    assert sum(live_jobs(running, repo).values()) == 0

    # And the other way round.
    real = repo / "real.json"
    assert reconcile("plan", "--out", str(real)).exit_code == 0
    back = reconcile("apply", "--sandbox", "--plan", str(real))
    assert back.exit_code == 1
    assert f"it was made for cohere at {host}, qubrid at {host}, segmind at {host}" in back.stderr
    assert "and is applied against the sandbox (--sandbox)" in back.stderr


def test_a_plan_made_for_some_paths_is_refused_for_others_saying_which(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    saved = repo / "plan.json"
    assert reconcile("plan", QWEN, "--out", str(saved)).exit_code == 0
    assert json.loads(saved.read_text())["made_for"]["paths"] == [QWEN]
    refused = reconcile("apply", "--plan", str(saved))
    assert refused.exit_code == 1
    assert (
        f"the saved plan is stale: it was made for paths {QWEN}, and is now run for specs;"
        in refused.stderr
    )
    assert sum(live_jobs(running, repo).values()) == 0
    # The same paths apply it.
    applied = reconcile("apply", "--plan", str(saved), QWEN)
    assert applied.exit_code == 0, applied.output
    assert live_jobs(running, repo) == Counter({("segmind", "mascot-qwen-v1"): 1})


def test_a_stale_plan_names_the_spec_the_dataset_or_the_remote_job_that_moved(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    running.control.set_speed(0.0)
    spec = repo / QWEN
    saved = repo / "plan.json"

    assert reconcile("plan", "--out", str(saved)).exit_code == 0
    spec.write_text(spec.read_text().replace("access: private", "access: public"))
    edited = reconcile("apply", "--plan", str(saved))
    assert edited.exit_code == 1
    assert "the saved plan is stale: the spec segmind mascot-qwen-v1 changed;" in edited.stderr
    spec.write_text(spec.read_text().replace("access: public", "access: private"))

    assert reconcile("plan", "--out", str(saved)).exit_code == 0
    other = segmind_job_id(running, "mascot-flux-pro-v1")
    running.control.set_fields("segmind", "jobs", other, segmind_public=0)  # the spec: public
    moved = reconcile("apply", "--plan", str(saved))
    assert moved.exit_code == 1
    assert (
        "the saved plan is stale: the remote job"
        f" {TEST_OWNER}--mascot-flux-pro-v1 (segmind {other}) changed;" in moved.stderr
    )
    running.control.set_fields("segmind", "jobs", other, segmind_public=1)

    assert reconcile("plan", "--out", str(saved)).exit_code == 0
    (repo / "datasets" / "support-qa.csv").write_text(
        (repo / "datasets" / "support-qa.csv").read_text() + '"one more?","an answer"\n'
    )
    dataset = reconcile("apply", "--plan", str(saved))
    assert dataset.exit_code == 1
    assert (
        "the saved plan is stale: the dataset of spec qubrid support-qa-v1 changed;"
        in dataset.stderr
    )


def test_a_plan_file_that_records_no_target_says_so_and_still_applies(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    saved = repo / "plan.json"
    assert reconcile("plan", "--out", str(saved)).exit_code == 0
    older = json.loads(saved.read_text())
    for key in ("made_for", "snapshot_items", "not_targeted"):
        del older[key]
    for key in ("targets", "partial"):
        del older["options"][key]
    saved.write_text(json.dumps(older))

    applied = reconcile("apply", "--plan", str(saved))
    assert applied.exit_code == 0, applied.output
    assert "does not record what it was made for" in applied.stderr
    assert "target unknown" in applied.stderr
    assert live_jobs(running, repo) == Counter(EXAMPLES)

    spec = repo / QWEN
    spec.write_text(spec.read_text().replace("access: private", "access: public"))
    stale = reconcile("apply", "--plan", str(saved))
    assert stale.exit_code == 1
    assert "this plan file does not record which" in stale.stderr


# --- --target and some PATHs ----------------------------------------------------------------


def test_target_plans_and_applies_only_the_targets_and_counts_the_rest(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    planned = reconcile("plan", "--target", "mascot-qwen-v1", "-o", "json")
    document = json.loads(planned.stdout)
    assert [(c["action"], c["name"]) for c in document["changes"]] == [("create", "mascot-qwen-v1")]
    assert document["options"]["targets"] == ["mascot-qwen-v1"]
    assert len(document["not_targeted"]) == len(EXAMPLES) - 1

    applied = reconcile("--target", "mascot-qwen-v1", "--target", "support-qa-v1")
    assert applied.exit_code == 0, applied.output
    assert live_jobs(running, repo) == Counter(
        {("segmind", "mascot-qwen-v1"): 1, ("qubrid", "support-qa-v1"): 1}
    )
    assert f"{len(EXAMPLES) - 2} other jobs not targeted" in applied.stdout
    assert "Unmanaged" not in applied.stdout

    # Every job exists now; a run for one target leaves the others alone, even when their
    # specs are gone (they are neither unmanaged nor deleted).
    assert reconcile().exit_code == 0
    (repo / "specs" / "qubrid-release-notes.yaml").unlink()
    again = reconcile("--target", "mascot-qwen-v1")
    assert again.exit_code == 0, again.output
    assert f"{len(EXAMPLES) - 1} other jobs not targeted" in again.stdout
    assert "Unmanaged" not in again.stdout and "delete:" not in again.stdout
    assert live_jobs(running, repo)[("qubrid", "release-notes-v1")] == 1


def test_target_refuses_prune_and_unknown_names_before_any_request(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.clear_requests()
    pruned = reconcile("--target", "mascot-qwen-v1", "--prune")
    assert pruned.exit_code == 1
    assert one_line_error(pruned.stderr).startswith(
        "reconcile: --prune cannot be combined with --target"
    )
    (repo / "reconciler.yaml").write_text((repo / "reconciler.yaml").read_text() + "prune: true\n")
    configured = reconcile("plan", "--target", "mascot-qwen-v1")
    assert configured.exit_code == 1
    assert "prune: true in reconciler.yaml cannot be combined with --target" in configured.stderr
    assert "--no-prune" in configured.stderr
    assert reconcile("plan", "--target", "mascot-qwen-v1", "--no-prune").exit_code == 0

    unknown = reconcile("plan", "--no-prune", "--target", "mascot-qwen-v2")
    assert unknown.exit_code == 1
    assert one_line_error(unknown.stderr) == (
        "reconcile: --target mascot-qwen-v2: no spec under the spec paths has this name"
        " (did you mean `mascot-qwen-v1`?)"
    )
    assert set(methods(running)) <= {"GET"}
    assert sum(live_jobs(running, repo).values()) == 0


def test_some_paths_count_the_other_specs_jobs_instead_of_listing_them_unmanaged(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    partial = reconcile("plan", QWEN)
    assert partial.exit_code == 0, partial.output
    assert "Unmanaged" not in partial.stdout
    assert "--prune would delete it" not in partial.stdout
    assert f"{len(EXAMPLES) - 1} other jobs not targeted" in partial.stdout
    document = json.loads(reconcile("plan", QWEN, "-o", "json").stdout)
    assert document["unmanaged"] == []
    assert document["options"]["partial"] is True
    assert {(n["provider"], n["name"]) for n in document["not_targeted"]} == set(EXAMPLES) - {
        ("segmind", "mascot-qwen-v1")
    }
