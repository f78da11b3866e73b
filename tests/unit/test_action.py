"""The composite action (action.yml) and its publish script (action/).

- its shape: the modes, what each step may see (keys only where a provider is called, the
  token only where GitHub is called, nothing from an input or event pasted into a script);
- its shell steps run as GitHub runs them (bash, -eo pipefail) with a stand-in ``reconcile`` on
  PATH, and a few with the real one against the sandbox;
- its publish step run against a fake GitHub API over real HTTP (tests/support/fake_github.py):
  the one plan comment found by its marker and edited in place whoever the token is, a blocked
  plan called blocked, the one drift issue opened, updated and closed, the apply's result on
  the merged pull request and as a commit status.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.fake_github import REPOSITORY, FakeGitHub, serve_fake_github
from tests.support.paths import REPO

ACTION = REPO / "action.yml"
VENV_BIN = Path(sys.executable).parent
TOKEN = "ghs_sentinelTOKEN0123456789"
HEAD_SHA = "feedface" * 5
MERGE_SHA = "0123456789abcdef" * 2 + "01234567"
PLAN_MARKER = "<!-- reconcile-plan:reconcile: -->"
KEY_INPUTS = {"segmind-api-key", "qubrid-api-key", "cohere-api-key", "wandb-api-key"}


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    document = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def step(action: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        s for s in action["runs"]["steps"] if str(s.get("name", "")).startswith(prefix)
    ]
    assert len(found) == 1, f"expected one step named {prefix!r}, found {len(found)}"
    return found[0]


def shown(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


# ---------------------------------------------------------------------------------------------
# shape


def test_the_modes_exist_and_a_wrong_one_is_refused(action: dict[str, Any], tmp_path: Path):
    assert action["runs"]["using"] == "composite"
    assert "validate | plan | apply | drift" in action["inputs"]["mode"]["description"]
    for mode in ("validate", "plan", "apply", "drift"):
        result, _ = run_step(step(action, "Check the mode"), tmp_path, {"MODE": mode})
        assert result.returncode == 0, shown(result)
    result, _ = run_step(step(action, "Check the mode"), tmp_path, {"MODE": "destroy"})
    assert result.returncode == 1
    assert "mode must be validate, plan, apply or drift" in result.stdout
    # Every mode the publish script knows is one the action accepts, and the reverse.
    publish = run_python([str(REPO / "action" / "publish.py")], {})
    assert "validate|plan|drift|apply" in publish.stdout


def test_the_outputs_are_exit_code_has_changes_and_the_plan_file(action: dict[str, Any]):
    assert {"exit-code", "has-changes", "plan-file", "plan-digest", "report-file"} <= set(
        action["outputs"]
    )


def test_keys_reach_only_the_steps_that_call_a_provider_and_the_token_only_the_publisher(
    action: dict[str, Any],
) -> None:
    holders: dict[str, set[str]] = {}
    for s in action["runs"]["steps"]:
        text = json.dumps(s)
        names = {name for name in (*KEY_INPUTS, "github-token") if f"inputs.{name}" in text}
        if names:
            # Only through env:, never in `with:` of another action or a script.
            assert not any(f"inputs.{n}" in json.dumps(s.get("run", "")) for n in names)
            holders[s["name"]] = names
    assert holders == {
        "Plan (dry run, no write request of any kind)": KEY_INPUTS - {"wandb-api-key"},
        "Apply": KEY_INPUTS,
        "Publish": {"github-token"},
    }


def test_no_script_has_an_expression_pasted_into_it(action: dict[str, Any]) -> None:
    for s in action["runs"]["steps"]:
        assert "${{" not in s.get("run", ""), s["name"]


def test_a_fork_is_validated_but_not_planned(action: dict[str, Any]) -> None:
    condition = " ".join(step(action, "Plan")["if"].split())
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition


# ---------------------------------------------------------------------------------------------
# the shell steps, under bash with a stand-in `reconcile`

FAKE_RECONCILE = """\
#!/usr/bin/env bash
# Stand-in for the CLI: records its arguments, writes a saved plan for --out, prints a marker
# on each stream, exits as told.
printf '%s\\n' "$*" >> "$FAKE_LOG"
plan='{"summary": {}}'
if [ -n "${FAKE_PLAN:-}" ]; then plan="$FAKE_PLAN"; fi
previous=""
for arg in "$@"; do
  if [ "$previous" = "--out" ]; then printf '%s' "$plan" > "$arg"; fi
  previous="$arg"
done
echo "stdout of reconcile $1"
echo "stderr of reconcile $1" >&2
# Hostile text (a file name, a provider's answer) on both streams, except in the annotations,
# which reconcile escapes (tests/unit/views/test_validation_views.py).
if [ -n "${FAKE_TEXT:-}" ] && [[ " $* " != *" github "* ]]; then
  printf '%s\n' "$FAKE_TEXT"
  printf '%s\n' "$FAKE_TEXT" >&2
fi
exit "${FAKE_EXIT:-0}"
"""


def run_step(
    action_step: Mapping[str, Any],
    tmp_path: Path,
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    real_cli: bool = False,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run a step's script as GitHub's `shell: bash` does; return the result and its outputs.
    ``reconcile`` is the stand-in above, or with ``real_cli`` the installed one."""
    assert action_step.get("shell") == "bash"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "reconcile"
    fake.write_text(FAKE_RECONCILE, encoding="utf-8")
    fake.chmod(0o755)
    path = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
    if not real_cli:
        path = f"{bin_dir}{os.pathsep}{path}"
    temp = tmp_path / "runner-temp"
    (temp / "reconcile").mkdir(parents=True, exist_ok=True)
    outputs = tmp_path / "github-output"
    outputs.write_text("", encoding="utf-8")
    script = tmp_path / "step.sh"
    script.write_text(action_step["run"], encoding="utf-8")
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=cwd,
        env={
            "PATH": path,
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"),
            "GITHUB_ACTION_PATH": str(REPO),
            "FAKE_LOG": str(tmp_path / "calls.log"),
            **env,
        },
    )
    values = dict(
        line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines() if line
    )
    return result, values


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.is_file() else []


@pytest.mark.parametrize("exit_code", [0, 1, 2])
def test_the_plan_step_records_the_exit_code_and_never_fails_itself(
    action: dict[str, Any], tmp_path: Path, exit_code: int
) -> None:
    result, outputs = run_step(step(action, "Plan"), tmp_path, {"FAKE_EXIT": str(exit_code)})
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": str(exit_code)}
    out = tmp_path / "runner-temp" / "reconcile"
    assert calls(tmp_path) == [
        f"plan --output markdown --detailed-exitcode --out {out / 'plan.json'} --"
    ]
    assert (out / "plan.md").read_text(encoding="utf-8") == "stdout of reconcile plan\n"
    assert (out / "plan-errors.txt").read_text(encoding="utf-8") == "stderr of reconcile plan\n"


def test_the_plan_step_passes_the_reviewed_flags_and_the_paths_as_paths(
    action: dict[str, Any], tmp_path: Path
) -> None:
    env = {
        "RECONCILE_SANDBOX": "true",
        "ALLOW_REPLACE": "true",
        "PRUNE": "true",
        "RECONCILE_ARGS": "--max-creates 3",
        # A path that looks like an option stays a path: `--` ends the options.
        "RECONCILE_PATHS": "specs/segmind  --retry-failed",
    }
    result, _ = run_step(step(action, "Plan"), tmp_path, env)
    assert result.returncode == 0, shown(result)
    (call,) = calls(tmp_path)
    assert call.endswith(
        "--sandbox --allow-replace --prune --max-creates 3 -- specs/segmind --retry-failed"
    )


@pytest.mark.parametrize(
    ("env", "packages"),
    [
        ({}, [str(REPO)]),
        ({"SANDBOX": "true"}, [str(REPO), str(REPO / "packaging" / "sandbox")]),
        (
            {"PACKAGE": "reconcile-finetune==0.1.0", "SANDBOX": "true", "SANDBOX_PACKAGE": "x"},
            ["reconcile-finetune==0.1.0", "x"],
        ),
    ],
    ids=["the-actions-commit", "with-the-emulator", "a-release"],
)
def test_the_install_installs_the_actions_own_commit_unless_told_otherwise(
    action: dict[str, Any], tmp_path: Path, env: dict[str, str], packages: list[str]
) -> None:
    result, outputs = run_step(step(action, "Resolve what to install"), tmp_path, env)
    assert result.returncode == 0, shown(result)
    listed = (tmp_path / "runner-temp" / "reconcile" / "packages.txt").read_text("utf-8")
    assert listed.splitlines() == packages
    # The pip cache's key changes with what is installed.
    assert len(outputs["key"]) == 16
    other, other_outputs = run_step(
        step(action, "Resolve what to install"), tmp_path, {**env, "PACKAGE": "something-else"}
    )
    assert other.returncode == 0
    assert other_outputs["key"] != outputs["key"]


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_validate_step_keeps_its_output_for_the_report(
    action: dict[str, Any], tmp_path: Path, exit_code: int
) -> None:
    validate = step(action, "Validate")
    assert set(validate["env"]) == {"RECONCILE_PATHS"}  # offline: no key near published output
    result, outputs = run_step(validate, tmp_path, {"FAKE_EXIT": str(exit_code)})
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": str(exit_code)}
    saved = (tmp_path / "runner-temp" / "reconcile" / "validate.txt").read_text("utf-8")
    assert "stdout of reconcile validate" in saved
    assert "stderr of reconcile validate" in saved
    # A failing validation is said again as annotations on the files' lines.
    annotations = ["validate --output github --"] if exit_code else []
    assert calls(tmp_path) == ["validate --", *annotations]


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_apply_step_records_its_report_and_exit_code(
    action: dict[str, Any], tmp_path: Path, exit_code: int
) -> None:
    env = {"FAKE_EXIT": str(exit_code), "LOCK_TIMEOUT": "600"}
    result, outputs = run_step(step(action, "Apply"), tmp_path, env)
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": str(exit_code)}
    assert calls(tmp_path) == ["apply --output markdown --lock-timeout 600 --"]
    report = (tmp_path / "runner-temp" / "reconcile" / "apply.md").read_text("utf-8")
    assert report == "stdout of reconcile apply\n"


def runner_commands(log: str) -> list[str]:
    """The workflow commands GitHub's runner reads in one stream of a step's log: each line
    that starts with `::` after blanks, none between `::stop-commands::TOKEN` and `::TOKEN::`
    (the resuming line left out)."""
    commands: list[str] = []
    resume: str | None = None
    for line in log.splitlines():
        text = line.lstrip()
        if resume is not None:
            resume = None if text == resume else resume
        elif text.startswith("::"):
            commands.append(text)
            if text.startswith("::stop-commands::"):
                resume = f"::{text.removeprefix('::stop-commands::')}::"
    return commands


def foreign_commands(log: str) -> list[str]:
    """The commands of ``log`` other than the action's own quiet (a random token)."""
    own = re.compile(r"::stop-commands::[0-9a-f]{32}")
    return [command for command in runner_commands(log) if not own.fullmatch(command)]


HOSTILE_LINES = [
    # A spec folder named so (validate's text starts its lines with the file's path).
    "::add-mask::stdout",
    "  ::stop-commands::silenced/a.yaml:1:1: provider: unknown",
    "::set-output name=exitcode::0",
    "::error file=specs/a.yaml,title=reconcile::forged",
]


@pytest.mark.parametrize("text", HOSTILE_LINES)
@pytest.mark.parametrize(
    ("prefix", "env"),
    [
        ("Validate", {"FAKE_EXIT": "1"}),
        ("Plan", {}),
        ("Apply", {"LOCK_TIMEOUT": "600"}),
        ("Apply", {"LOCK_TIMEOUT": "600", "CONFIRM_PLAN": "0" * 64}),
    ],
    ids=["validate", "plan", "apply", "confirmed-apply"],
)
def test_no_text_reconcile_prints_is_read_as_a_workflow_command(
    action: dict[str, Any], tmp_path: Path, prefix: str, env: dict[str, str], text: str
) -> None:
    result, _ = run_step(step(action, prefix), tmp_path, {**env, "FAKE_TEXT": text})
    assert result.returncode == 0, shown(result)
    assert text in result.stdout, shown(result)  # still shown, to be read
    assert foreign_commands(result.stdout) == [], shown(result)
    assert foreign_commands(result.stderr) == [], shown(result)


BLOCKED_PLAN: dict[str, Any] = {
    "options": {"allow_replace": False, "prune": False},
    "summary": {"create": 0, "update": 0, "replace": 1, "delete": 0, "noop": 3, "blocked": 1},
    "changes": [
        {"action": "replace", "provider": "segmind", "name": "mascot-v1", "target_id": "j-1"},
        {"action": "noop", "provider": "segmind", "name": "mascot-v0", "target_id": "j-0"},
    ],
    "incomplete": [],
}


def digest_of(plan: Mapping[str, Any], tmp_path: Path) -> str:
    saved = tmp_path / "digest-plan.json"
    saved.write_text(json.dumps(plan), encoding="utf-8")
    result = run_python([str(REPO / "action" / "publish.py"), "digest", str(saved)], {})
    assert result.returncode == 0, shown(result)
    return result.stdout.strip()


def test_a_confirmed_apply_applies_exactly_the_plan_with_that_digest(
    action: dict[str, Any], tmp_path: Path
) -> None:
    digest = digest_of(BLOCKED_PLAN, tmp_path)
    env = {
        "FAKE_PLAN": json.dumps(BLOCKED_PLAN),
        "CONFIRM_PLAN": digest,
        "ALLOW_REPLACE": "true",
        "LOCK_TIMEOUT": "600",
    }
    result, outputs = run_step(step(action, "Apply"), tmp_path, env)
    assert result.returncode == 0, shown(result)
    plan_file = tmp_path / "runner-temp" / "reconcile" / "plan.json"
    assert calls(tmp_path) == [
        f"plan --output json --out {plan_file} --allow-replace --",
        f"apply --output markdown --lock-timeout 600 --plan {plan_file} --",
    ]
    assert outputs == {"exitcode": "0"}


def replace_with(**spec: Any) -> dict[str, Any]:
    """BLOCKED_PLAN whose replace submits a spec with these fields (the rest as reviewed)."""
    reviewed = {"name": "mascot-v1", "base_model": "FLUX", "parameters": {"iterations": 400}}
    reviewed["source"] = {"file": "specs/mascot.yaml", "line": 1, "col": 1}
    desired = {"spec": {**reviewed, **spec}, "dataset_fingerprint": "abc", "owner": "team"}
    replace = {**BLOCKED_PLAN["changes"][0], "desired": desired}
    replace["field_changes"] = [{"path": "parameters.iterations", "remote": 300, "desired": 400}]
    return {**BLOCKED_PLAN, "changes": [replace, *BLOCKED_PLAN["changes"][1:]]}


@pytest.mark.parametrize(
    "moved",
    [{"parameters": {"iterations": 40_000}}, {"base_model": "FLUX_PRO"}, {"trigger_word": "X"}],
    ids=["parameters", "base-model", "a-field-added"],
)
def test_the_digest_covers_what_each_change_submits(tmp_path: Path, moved: dict[str, Any]) -> None:
    # A reviewed replace, then a commit that changes what it would submit (more iterations
    # cost more): the same job, target and dataset, but not the plan that was reviewed.
    reviewed = digest_of(replace_with(), tmp_path)
    assert digest_of(replace_with(**moved), tmp_path) != reviewed
    # Where the spec sits in its file is not what is submitted.
    elsewhere = {"source": {"file": "specs/mascot.yaml", "line": 9, "col": 1}}
    assert digest_of(replace_with(**elsewhere), tmp_path) == reviewed


def test_a_confirmed_apply_whose_plan_moved_applies_nothing(
    action: dict[str, Any], tmp_path: Path
) -> None:
    reviewed = digest_of(BLOCKED_PLAN, tmp_path)
    moved = {**BLOCKED_PLAN, "changes": [{**BLOCKED_PLAN["changes"][0], "target_id": "j-2"}]}
    env = {"FAKE_PLAN": json.dumps(moved), "CONFIRM_PLAN": reviewed, "LOCK_TIMEOUT": "600"}
    result, outputs = run_step(step(action, "Apply"), tmp_path, env)
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": "1"}
    assert [c.split()[0] for c in calls(tmp_path)] == ["plan"]  # no apply
    report = (tmp_path / "runner-temp" / "reconcile" / "apply.md").read_text("utf-8")
    assert f"not the confirmed {reviewed}" in report
    assert "nothing was applied" in report


@pytest.mark.parametrize(
    ("mode", "validate_exit", "step_exit", "fails"),
    [
        ("plan", "0", "0", False),
        ("plan", "0", "2", False),  # changes present: what a pull request is for
        ("plan", "0", "", False),  # a fork: validated, not planned
        ("plan", "0", "1", True),  # failed or blocked
        ("plan", "1", "", True),  # invalid specs
        ("drift", "0", "2", False),  # drift is reported in its issue
        ("apply", "0", "1", True),
        ("apply", "0", "0", False),
        ("validate", "1", "", True),
    ],
)
def test_the_job_fails_only_on_an_error(
    action: dict[str, Any],
    tmp_path: Path,
    mode: str,
    validate_exit: str,
    step_exit: str,
    fails: bool,
) -> None:
    exits = {"PLAN_EXIT": step_exit} if mode != "apply" else {"APPLY_EXIT": step_exit}
    env = {"MODE": mode, "VALIDATE_EXIT": validate_exit, **exits}
    result, outputs = run_step(step(action, "Result"), tmp_path, env)
    assert (result.returncode != 0) is fails, shown(result)
    assert set(outputs) == {"exit-code", "has-changes", "plan-file", "plan-digest", "report-file"}


def sandbox_checkout(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    for folder in ("specs", "datasets"):
        shutil.copytree(REPO / folder, checkout / folder)
    shutil.copy(REPO / "reconciler.yaml", checkout / "reconciler.yaml")
    return checkout


def test_with_the_real_cli_a_reviewed_plan_is_applied_by_its_digest(
    action: dict[str, Any], tmp_path: Path
) -> None:
    """The commands the action runs exist and behave as it expects (against the emulator):
    the plan step reports changes as exit 2 in markdown with a saved plan, and an apply
    confirming that plan's digest converges the sandbox."""
    checkout = sandbox_checkout(tmp_path)
    sandbox = {"RECONCILE_SANDBOX": "true"}
    result, outputs = run_step(step(action, "Plan"), tmp_path, sandbox, cwd=checkout, real_cli=True)
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": "2"}, shown(result)  # every example spec is still to create
    out = tmp_path / "runner-temp" / "reconcile"
    assert (out / "plan.md").read_text("utf-8").startswith("#")
    saved = json.loads((out / "plan.json").read_text("utf-8"))
    assert saved["summary"]["create"] > 0
    digest = digest_of(saved, tmp_path)
    env = {**sandbox, "CONFIRM_PLAN": digest, "LOCK_TIMEOUT": "600"}
    result, outputs = run_step(step(action, "Apply"), tmp_path, env, cwd=checkout, real_cli=True)
    assert result.returncode == 0, shown(result)
    assert outputs == {"exitcode": "0"}, (out / "apply.md").read_text("utf-8")
    assert "| done | create |" in (out / "apply.md").read_text("utf-8")


# ---------------------------------------------------------------------------------------------
# the publish step, against a fake GitHub API


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    yield from serve_fake_github()


def run_python(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ["PATH"], **env},
    )


PULL_REQUEST_EVENT = {
    "pull_request": {
        "number": 7,
        "head": {"sha": HEAD_SHA, "repo": {"full_name": REPOSITORY}},
    }
}
PLAN_FILES = {
    "validate.txt": "ok: 8 specs in 8 files valid\n",
    "plan.md": "| create | mascot-v1 |\n",
}


def publish(
    action: Mapping[str, Any],
    tmp_path: Path,
    github: FakeGitHub,
    *,
    mode: str = "plan",
    event_name: str = "pull_request",
    event: Mapping[str, Any] = PULL_REQUEST_EVENT,
    files: Mapping[str, str] = PLAN_FILES,
    validate_exit: str = "0",
    plan_exit: str = "2",
    apply_exit: str = "",
    paths: str = "",
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the action's Publish step as the action does; return the result and its outputs."""
    out = tmp_path / "runner-temp" / "reconcile"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("validate.txt", "plan.md", "plan-errors.txt", "plan.json", "apply.md"):
        (out / name).unlink(missing_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    publish_step = step(action, "Publish")
    assert publish_step["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    env = {
        "MODE": mode,
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": MERGE_SHA,
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_file),
        "GITHUB_WORKFLOW": "reconcile",
        "VALIDATE_EXIT": validate_exit,
        "PLAN_EXIT": plan_exit,
        "APPLY_EXIT": apply_exit,
        "RECONCILE_PATHS": paths,
        "COMMENT": "true",
        "REPORT": "true",
        "DRIFT_LABEL": "reconcile-drift",
    }
    result, outputs = run_step(publish_step, tmp_path, env)
    assert TOKEN not in result.stdout + result.stderr
    return result, outputs


def summary(tmp_path: Path) -> str:
    return (tmp_path / "step-summary.md").read_text(encoding="utf-8")


def test_the_first_plan_creates_one_comment_starting_with_the_marker(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    result, outputs = publish(action, tmp_path, github)
    assert result.returncode == 0, shown(result)
    ((comment,),) = github.state.comments.values()
    body = comment["body"]
    assert list(github.state.comments) == [7]
    assert body.startswith(PLAN_MARKER + "\n### reconcile: changes to apply on merge\n")
    assert "| create | mascot-v1 |" in body
    assert "feedfac" in body  # the pull request's head commit, not the merge commit
    assert summary(tmp_path) == body + "\n"
    assert Path(outputs["report-file"]).read_text("utf-8") == body
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in github.state.requests)


def test_a_later_push_edits_the_same_comment_in_place_found_on_a_later_page(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    people = [
        {"id": n, "user": {"login": "octocat", "type": "User"}, "body": "LGTM"} for n in (1, 2, 3)
    ]
    github.state.comments[7] = [
        *people,
        {
            "id": 12,
            "user": {"login": "github-actions[bot]", "type": "Bot"},
            "body": PLAN_MARKER + "\nold plan",
        },
    ]
    result, _ = publish(action, tmp_path, github)
    assert result.returncode == 0, shown(result)
    assert [c["id"] for c in github.state.comments[7]] == [1, 2, 3, 12]
    assert "| create | mascot-v1 |" in github.state.comments[7][3]["body"]
    assert [(w["method"], w["path"]) for w in github.state.writes()] == [
        ("PATCH", f"/repos/{REPOSITORY}/issues/comments/12")
    ]


def test_with_a_personal_token_the_tokens_own_comment_is_edited_not_duplicated(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    """A PAT writes as a person, not a bot: its comment is found by the marker and its author
    being the token's own account."""
    github.state.token_login = "release-robot"
    first, _ = publish(action, tmp_path, github)
    second, _ = publish(action, tmp_path, github, plan_exit="0", files={"plan.md": "nothing"})
    assert first.returncode == second.returncode == 0, shown(second)
    (comment,) = github.state.comments[7]
    assert comment["user"]["login"] == "release-robot"
    assert "### reconcile: no changes" in comment["body"]


@pytest.mark.parametrize(
    "token_login", [None, "release-robot"], ids=["bot-token", "personal-token"]
)
def test_a_person_quoting_the_marker_does_not_get_their_comment_overwritten(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub, token_login: str | None
) -> None:
    github.state.token_login = token_login
    quoted = {
        "id": 13,
        "user": {"login": "octocat", "type": "User"},
        "body": PLAN_MARKER + "\nmine",
    }
    github.state.comments[7] = [dict(quoted)]
    result, _ = publish(action, tmp_path, github)
    assert result.returncode == 0, shown(result)
    assert github.state.comments[7][0] == quoted
    assert len(github.state.comments[7]) == 2


def test_each_set_of_paths_keeps_a_comment_of_its_own(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    for paths in ("specs/segmind", "specs/cohere", "specs/segmind"):
        result, _ = publish(action, tmp_path, github, paths=paths)
        assert result.returncode == 0, shown(result)
    firsts = [c["body"].split("\n", 1)[0] for c in github.state.comments[7]]
    assert firsts == [
        "<!-- reconcile-plan:reconcile:specs/segmind -->",
        "<!-- reconcile-plan:reconcile:specs/cohere -->",
    ]


@pytest.mark.parametrize(
    ("validate_exit", "plan_exit", "files", "title", "shows"),
    [
        ("0", "0", {"plan.md": "nothing to do"}, "no changes", "nothing to do"),
        (
            "0",
            "1",
            {
                "plan.md": "| replace (blocked) | mascot-v1 |",
                "plan.json": json.dumps(BLOCKED_PLAN),
            },
            "plan blocked: 1 change needs a decision (see why below)",
            "| replace (blocked) | mascot-v1 |",
        ),
        (
            "0",
            "1",
            {
                "plan.md": "| create (blocked) | a |",
                "plan.json": json.dumps(
                    {**BLOCKED_PLAN, "incomplete": [{"provider": "cohere", "error": "HTTP 500"}]}
                ),
            },
            "plan blocked: cohere could not be read (see below)",
            "| create (blocked) | a |",
        ),
        (
            "0",
            "1",
            {"plan.md": "", "plan-errors.txt": "reconciler.yaml:1:1: owner: missing"},
            "the plan failed (exit 1)",
            "reconciler.yaml:1:1: owner: missing",
        ),
        (
            "1",
            "",
            {"validate.txt": "specs/a.yaml:3:1: base_model: unknown"},
            "invalid specs: nothing was planned",
            "specs/a.yaml:3:1: base_model: unknown",
        ),
    ],
    ids=["no-changes", "blocked", "provider-unread", "plan-failed", "invalid-specs"],
)
def test_the_comment_says_what_happened(
    action: dict[str, Any],
    tmp_path: Path,
    github: FakeGitHub,
    validate_exit: str,
    plan_exit: str,
    files: dict[str, str],
    title: str,
    shows: str,
) -> None:
    result, _ = publish(
        action, tmp_path, github, validate_exit=validate_exit, plan_exit=plan_exit, files=files
    )
    assert result.returncode == 0, shown(result)
    ((comment,),) = github.state.comments.values()
    assert f"### reconcile: {title}\n" in comment["body"]
    assert shows in comment["body"]


def test_a_plan_too_long_for_a_comment_is_cut_and_kept_whole_in_the_summary(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    long_plan = "".join(f"| create | job-{n:05d} | new |\n" for n in range(5000))
    result, _ = publish(action, tmp_path, github, files={**PLAN_FILES, "plan.md": long_plan})
    assert result.returncode == 0, shown(result)
    ((comment,),) = github.state.comments.values()
    assert len(comment["body"]) <= 65536
    assert comment["body"].startswith(PLAN_MARKER)
    assert "Too long for a comment" in comment["body"]
    assert "job-04999" in summary(tmp_path)


def test_a_fork_gets_the_summary_but_no_call_to_github(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    fork = {
        "pull_request": {
            **PULL_REQUEST_EVENT["pull_request"],
            "head": {"sha": HEAD_SHA, "repo": {"full_name": "stranger/specs"}},
        }
    }
    result, _ = publish(action, tmp_path, github, event=fork, plan_exit="")
    assert result.returncode == 0, shown(result)
    assert github.state.requests == []
    assert "forks get no provider keys" in summary(tmp_path)
    assert "::notice::" in result.stdout


def test_a_token_without_permission_fails_the_step_saying_which(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    github.state.refuse_writes = True
    result, _ = publish(action, tmp_path, github)
    assert result.returncode == 1, shown(result)
    assert "::error::reconcile action: POST /repos/acme/specs/issues/7/comments: HTTP 403" in (
        result.stdout
    )
    assert "pull-requests: write" in result.stdout
    assert "changes to apply on merge" in summary(tmp_path)  # the summary is written first


# --- drift


def drift_issues(github: FakeGitHub) -> list[dict[str, Any]]:
    return github.state.issues


def test_drift_opens_one_issue_then_updates_it_then_closes_it_when_clean(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    plan = {**BLOCKED_PLAN, "summary": {**BLOCKED_PLAN["summary"], "create": 2, "blocked": 0}}
    files = {"plan.md": "| create | a |", "plan.json": json.dumps(plan)}
    schedule = {"event_name": "schedule", "event": {}, "mode": "drift"}
    result, outputs = publish(action, tmp_path, github, files=files, **schedule)  # type: ignore[arg-type]
    assert result.returncode == 0, shown(result)
    assert outputs["has-changes"] == "true"
    assert outputs["plan-digest"] in result.stdout
    (issue,) = drift_issues(github)
    assert issue["labels"] == ["reconcile-drift"]
    assert (
        issue["title"]
        == "reconcile: drift: 2 to create, 1 to replace to converge the providers to the specs"
    )
    assert issue["body"].startswith("<!-- reconcile-drift:reconcile: -->\n")

    again = {"plan.md": "| create | b |", "plan.json": json.dumps(plan)}
    result, _ = publish(action, tmp_path, github, files=again, **schedule)  # type: ignore[arg-type]
    assert result.returncode == 0, shown(result)
    (issue,) = drift_issues(github)
    assert "| create | b |" in issue["body"]

    clean = {"plan.md": "nothing", "plan.json": json.dumps({"summary": {}})}
    result, _ = publish(action, tmp_path, github, files=clean, plan_exit="0", **schedule)  # type: ignore[arg-type]
    assert result.returncode == 0, shown(result)
    (issue,) = drift_issues(github)
    assert issue["state"] == "closed"
    (note,) = github.state.comments[issue["number"]]
    assert "No drift any more" in note["body"]


def test_drift_leaves_other_labelled_issues_and_pull_requests_alone(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    others = [
        {
            "number": 1,
            "state": "open",
            "labels": ["reconcile-drift"],
            "title": "by hand",
            "body": "mine",
        },
        {
            "number": 2,
            "state": "open",
            "labels": ["reconcile-drift"],
            "title": "pr",
            "body": "<!-- reconcile-drift:reconcile: -->",
            "pull_request": {},
        },
    ]
    github.state.issues.extend(json.loads(json.dumps(others)))
    result, _ = publish(action, tmp_path, github, mode="drift", event_name="schedule", event={})
    assert result.returncode == 0, shown(result)
    assert github.state.issues[:2] == others
    assert len(github.state.issues) == 3


def test_a_clean_drift_check_with_no_issue_writes_nothing(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    result, _ = publish(
        action, tmp_path, github, mode="drift", event_name="schedule", event={}, plan_exit="0"
    )
    assert result.returncode == 0, shown(result)
    assert github.state.writes() == []


# --- apply


def publish_apply(
    action: Mapping[str, Any], tmp_path: Path, github: FakeGitHub, event_name: str, exit_code: str
) -> subprocess.CompletedProcess[str]:
    files = {"validate.txt": "ok", "apply.md": "| done | create | mascot-v1 |"}
    result, _ = publish(
        action,
        tmp_path,
        github,
        mode="apply",
        event_name=event_name,
        event={},
        files=files,
        apply_exit=exit_code,
    )
    return result


@pytest.mark.parametrize(
    ("apply_exit", "state", "title"),
    [("0", "success", "applied"), ("1", "failure", "apply failed (exit 1)")],
)
def test_the_apply_result_goes_to_the_merged_pull_request_and_the_commit_status(
    action: dict[str, Any],
    tmp_path: Path,
    github: FakeGitHub,
    apply_exit: str,
    state: str,
    title: str,
) -> None:
    github.state.pulls_of_commit[MERGE_SHA] = [
        {"number": 7, "merged_at": "2026-01-01T00:00:00Z"},
        {"number": 8, "merged_at": None},  # an open pull request that contains the commit
    ]
    result = publish_apply(action, tmp_path, github, "push", apply_exit)
    assert result.returncode == 0, shown(result)
    (status,) = github.state.statuses
    assert status["sha"] == MERGE_SHA
    assert status["state"] == state
    assert status["context"] == "reconcile/apply"
    assert status["description"] == f"reconcile: {title}"
    assert status["target_url"] == f"https://github.example/{REPOSITORY}/actions/runs/42"
    assert list(github.state.comments) == [7]
    (comment,) = github.state.comments[7]
    assert comment["body"].startswith("<!-- reconcile-apply:reconcile: -->\n")
    assert "| done | create | mascot-v1 |" in comment["body"]


def test_an_apply_that_merged_several_pull_requests_asks_who_the_token_is_once(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    github.state.token_login = "release-robot"
    github.state.pulls_of_commit[MERGE_SHA] = [
        {"number": 7, "merged_at": "2026-01-01T00:00:00Z"},
        {"number": 9, "merged_at": "2026-01-01T00:00:00Z"},
    ]
    result = publish_apply(action, tmp_path, github, "push", "0")
    assert result.returncode == 0, shown(result)
    assert sorted(github.state.comments) == [7, 9]
    assert [r["path"] for r in github.state.requests].count("/user") == 1


def test_a_manual_apply_sets_the_status_and_comments_on_no_pull_request(
    action: dict[str, Any], tmp_path: Path, github: FakeGitHub
) -> None:
    github.state.pulls_of_commit[MERGE_SHA] = [{"number": 7, "merged_at": "2026-01-01T00:00:00Z"}]
    result = publish_apply(action, tmp_path, github, "workflow_dispatch", "0")
    assert result.returncode == 0, shown(result)
    assert len(github.state.statuses) == 1
    assert github.state.comments == {}
