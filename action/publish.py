"""The action's publishing step: what the earlier steps recorded, shown where people look.

    python publish.py validate|plan|drift|apply OUT_DIR
    python publish.py digest PLAN_FILE

- every mode writes the job summary, and the report to OUT_DIR/report.md;
- plan: on a pull request, ONE comment, found again by its hidden marker and edited in place;
- drift: ONE open issue with the drift label and the marker, opened or updated while the plan
  is not empty (or blocked), commented on and closed when it is;
- apply: a commit status on the applied commit, and on a push the report as a comment on the
  pull request(s) that commit merged;
- digest: the digest of a saved plan, which a reviewed apply confirms (``confirm-plan``).

Everything comes from the environment GitHub sets (GITHUB_REPOSITORY, GITHUB_EVENT_PATH, ...)
and from the step's ``env:``; nothing is pasted into this script's source. Which comment is
ours: one that starts with the marker and whose author is the token's own account. A personal
or fine-grained token can say which account that is (``GET /user``); GITHUB_TOKEN and App tokens
cannot, and then any bot's comment with the marker is ours. A person's comment that starts with
the marker is never edited, whoever the token is.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bodies
from github_api import GitHub, GitHubError


@dataclass(frozen=True)
class Run:
    """The workflow run, as GitHub's environment describes it. What it reads from files (the
    event, the saved plan) it reads once."""

    env: Mapping[str, str]
    out: Path

    @cached_property
    def event(self) -> dict[str, Any]:
        path = self.env.get("GITHUB_EVENT_PATH", "")
        if not path or not Path(path).is_file():
            return {}
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        return loaded if isinstance(loaded, dict) else {}

    @property
    def repository(self) -> str:
        return self.env.get("GITHUB_REPOSITORY", "")

    @property
    def run_url(self) -> str:
        server = self.env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{self.repository}/actions/runs/{self.env.get('GITHUB_RUN_ID', '')}"

    @property
    def pull_request(self) -> dict[str, Any] | None:
        if self.env.get("GITHUB_EVENT_NAME") not in ("pull_request", "pull_request_target"):
            return None
        pull = self.event.get("pull_request")
        return pull if isinstance(pull, dict) else None

    @property
    def commit(self) -> str:
        """The commit the reader knows: a pull request's head, not its merge commit."""
        pull = self.pull_request
        if pull is not None:
            return str(pull.get("head", {}).get("sha", ""))
        return self.env.get("GITHUB_SHA", "")

    @property
    def from_fork(self) -> bool:
        pull = self.pull_request
        if pull is None:
            return False
        return bool(pull.get("head", {}).get("repo", {}).get("full_name") != self.repository)

    def marker(self, kind: str) -> str:
        return bodies.marker(
            kind, self.env.get("GITHUB_WORKFLOW", ""), self.env.get("RECONCILE_PATHS", "")
        )

    def read(self, name: str) -> str:
        path = self.out / name
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""

    @cached_property
    def saved_plan(self) -> dict[str, Any] | None:
        text = self.read("plan.json")
        if not text:
            return None
        try:
            plan = json.loads(text)
        except ValueError:
            return None
        return plan if isinstance(plan, dict) else None

    @cached_property
    def plan_digest(self) -> str:
        """The saved plan's digest ("" with none): in the footer, and the step's output."""
        plan = self.saved_plan
        return bodies.plan_digest(plan) if plan is not None else ""

    def github(self) -> GitHub:
        return GitHub(
            api_url=self.env.get("GITHUB_API_URL", "https://api.github.com"),
            repository=self.repository,
            token=self.env.get("GITHUB_TOKEN", ""),
        )

    def outcome(self) -> bodies.Outcome:
        return bodies.Outcome(
            validate_exit=self.env.get("VALIDATE_EXIT", ""),
            validate_text=self.read("validate.txt"),
            plan_exit=self.env.get("PLAN_EXIT", ""),
            plan_markdown=self.read("plan.md"),
            plan_errors=self.read("plan-errors.txt"),
            plan=self.saved_plan,
            from_fork=self.from_fork,
        )

    def footer(self) -> str:
        return bodies.footer(self.commit, self.run_url, self.plan_digest)

    def publish_locally(self, text: str, outputs: Mapping[str, str]) -> None:
        """The job summary, the report file and the step's outputs."""
        report = self.out / "report.md"
        report.write_text(text, encoding="utf-8")
        summary = self.env.get("GITHUB_STEP_SUMMARY")
        if summary:
            with Path(summary).open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        output = self.env.get("GITHUB_OUTPUT")
        if output:
            with Path(output).open("a", encoding="utf-8") as handle:
                for key, value in {**outputs, "report-file": str(report)}.items():
                    handle.write(f"{key}={value}\n")


def token_login(github: GitHub) -> str | None:
    """The token's own account, when the token can say (personal tokens); None for
    GITHUB_TOKEN and App installation tokens, which GitHub answers 403 here."""
    try:
        user = github.call("GET", "/user")
    except GitHubError:
        return None
    login = user.get("login") if isinstance(user, dict) else None
    return str(login) if login else None


def is_ours(comment: Mapping[str, Any], first_line: str, login: str | None) -> bool:
    body = comment.get("body") or ""
    user = comment.get("user") or {}
    if not body.startswith(first_line + "\n") and body != first_line:
        return False
    if login is not None:
        return bool(user.get("login") == login)
    return bool(user.get("type") == "Bot")


def upsert_comment(
    github: GitHub, login: str | None, number: int, first_line: str, body: str
) -> str:
    """Edit our comment (``is_ours``, with ``login`` from ``token_login``) that starts with
    ``first_line`` on issue or pull request ``number``, or create it. Returns what was done."""
    for comment in github.pages(f"issues/{number}/comments"):
        if is_ours(comment, first_line, login):
            github.call("PATCH", f"issues/comments/{comment['id']}", {"body": body})
            return f"edited comment {comment['id']} on #{number}"
    github.call("POST", f"issues/{number}/comments", {"body": body})
    return f"commented on #{number}"


def publish_validate(run: Run) -> None:
    valid = run.env.get("VALIDATE_EXIT") == "0"
    title = "specs valid" if valid else "invalid specs"
    text = bodies.document(
        run.marker("validate"), title, bodies.fenced(run.read("validate.txt")), run.footer()
    )
    run.publish_locally(text, {"has-changes": "false"})


def publish_plan(run: Run) -> None:
    outcome = run.outcome()
    first_line = run.marker("plan")
    title = bodies.plan_title(outcome)
    details = bodies.plan_details(outcome)
    footer = run.footer()
    run.publish_locally(bodies.document(first_line, title, details, footer), plan_outputs(run))
    pull = run.pull_request
    if pull is None or run.env.get("COMMENT", "true") != "true":
        return
    if outcome.from_fork:
        print("::notice::Pull request from a fork: the plan is in the job summary only.")
        return
    body = bodies.cut_to_fit(first_line, title, details, footer, run.run_url)
    github = run.github()
    print(upsert_comment(github, token_login(github), int(pull["number"]), first_line, body))


def plan_outputs(run: Run) -> dict[str, str]:
    digest = run.plan_digest
    if digest:
        # In the log too: what a reviewed manual apply is given as `confirm`.
        print(f"plan digest: {digest}")
    has_changes = bodies.has_changes(run.saved_plan)
    return {"has-changes": "true" if has_changes else "false", "plan-digest": digest}


def publish_drift(run: Run) -> None:
    outcome = run.outcome()
    first_line = run.marker("drift")
    title = bodies.plan_title(outcome, drift=True)
    details = bodies.plan_details(outcome)
    footer = run.footer()
    run.publish_locally(bodies.document(first_line, title, details, footer), plan_outputs(run))
    if outcome.validate_exit == "0" and outcome.plan_exit == "":
        return  # nothing was observed: say nothing about drift
    github = run.github()
    label = run.env.get("DRIFT_LABEL") or "reconcile-drift"
    # The label can only be set by people with triage access, and the marker names this
    # workflow and paths: together they find our one issue.
    issues = github.pages(f"issues?state=open&labels={quote(label)}")
    ours = [
        issue
        for issue in issues
        if "pull_request" not in issue and (issue.get("body") or "").startswith(first_line)
    ]
    clean = outcome.validate_exit == "0" and outcome.plan_exit == "0"
    if clean:
        for issue in ours:
            note = (
                f"No drift any more at commit {run.commit[:7]}"
                f" ([workflow run]({run.run_url})): closing."
            )
            github.call("POST", f"issues/{issue['number']}/comments", {"body": note})
            github.call(
                "PATCH",
                f"issues/{issue['number']}",
                {"state": "closed", "state_reason": "completed"},
            )
            print(f"closed #{issue['number']}")
        return
    body = bodies.cut_to_fit(first_line, title, details, footer, run.run_url)
    issue_title = f"reconcile: {title}"[:250]
    if ours:
        number = ours[0]["number"]
        github.call("PATCH", f"issues/{number}", {"title": issue_title, "body": body})
        print(f"updated #{number}")
    else:
        created = github.call(
            "POST", "issues", {"title": issue_title, "body": body, "labels": [label]}
        )
        print(f"opened #{created.get('number') if isinstance(created, dict) else '?'}")


def publish_apply(run: Run) -> None:
    validate_exit = run.env.get("VALIDATE_EXIT", "")
    apply_exit = run.env.get("APPLY_EXIT", "")
    title = bodies.apply_title(validate_exit, apply_exit)
    if validate_exit != "0":
        details = bodies.fenced(run.read("validate.txt"))
    else:
        details = run.read("apply.md") or "(no report: see the workflow run)"
    first_line = run.marker("apply")
    footer = run.footer()
    run.publish_locally(bodies.document(first_line, title, details, footer), plan_outputs(run))
    if run.env.get("REPORT", "true") != "true":
        return
    github = run.github()
    sha = run.env.get("GITHUB_SHA", "")
    paths = " ".join(run.env.get("RECONCILE_PATHS", "").split())
    github.call(
        "POST",
        f"statuses/{sha}",
        {
            "state": "success" if title == "applied" else "failure",
            "context": f"reconcile/apply ({paths})" if paths else "reconcile/apply",
            "description": bodies.status_description(f"reconcile: {title}"),
            "target_url": run.run_url,
        },
    )
    print(f"set the commit status of {sha[:7]}")
    if run.env.get("GITHUB_EVENT_NAME") != "push":
        return  # a manual run merged nothing: its report stays in the summary and the status
    body = bodies.cut_to_fit(first_line, title, details, footer, run.run_url)
    pulls = github.call("GET", f"commits/{sha}/pulls") or []
    merged = [pull for pull in pulls if isinstance(pull, dict) and pull.get("merged_at")]
    if not merged:
        return
    login = token_login(github)  # once for the run, however many pull requests it comments on
    for pull in merged:
        print(upsert_comment(github, login, int(pull["number"]), first_line, body))


PUBLISHERS = {
    "validate": publish_validate,
    "plan": publish_plan,
    "drift": publish_drift,
    "apply": publish_apply,
}


def main(argv: list[str], env: Mapping[str, str]) -> int:
    if len(argv) != 3 or (argv[1] not in PUBLISHERS and argv[1] != "digest"):
        print(f"usage: publish.py {'|'.join(PUBLISHERS)} OUT_DIR, or publish.py digest PLAN_FILE")
        return 1
    if argv[1] == "digest":
        try:
            plan = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(
                f"::error::{argv[2]}: no saved plan to take a digest of ({error})", file=sys.stderr
            )
            return 1
        print(bodies.plan_digest(plan))
        return 0
    try:
        PUBLISHERS[argv[1]](Run(env, Path(argv[2])))
    except GitHubError as error:
        print(f"::error::reconcile action: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
