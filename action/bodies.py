"""What the action says: the hidden markers, the titles and the markdown bodies of the plan
comment, the drift issue and the apply report, and the digest that confirms a reviewed plan.

Pure: text and the plan file's JSON in, text out. The markdown of a plan or an apply comes from
`reconcile` itself (already escaped there); what this module adds around it is its own text,
and command output it shows is fenced with its backticks defused.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

# GitHub refuses comment and issue bodies over 65,536 characters; the job summary takes 1 MiB.
COMMENT_LIMIT = 60_000
_MARKER_UNSAFE = re.compile(r"[^A-Za-z0-9._/* ]")


def marker(kind: str, workflow: str, paths: str) -> str:
    """The hidden first line that identifies one workflow's comment (or issue) for one set of
    paths, e.g. ``<!-- reconcile-plan:reconcile:specs/segmind -->``. Each shard of a sharded
    set-up, with paths of its own, keeps one comment of its own. Only letters, digits and
    ``._/* `` are kept (``--`` would end the HTML comment)."""
    workflow = _MARKER_UNSAFE.sub("_", workflow)
    where = _MARKER_UNSAFE.sub("_", " ".join(paths.split()))
    return f"<!-- reconcile-{kind}:{workflow}:{where} -->"


def fenced(text: str) -> str:
    """Command output in a code block that nothing inside it can close."""
    return "```\n" + text.replace("```", "`\u200b``") + "\n```"


@dataclass(frozen=True)
class Outcome:
    """What the steps before the publishing one recorded (their exit codes as GitHub gives
    them: '' when the step did not run) and what they wrote."""

    validate_exit: str
    validate_text: str
    plan_exit: str = ""
    plan_markdown: str = ""
    plan_errors: str = ""
    plan: dict[str, Any] | None = None
    from_fork: bool = False


def has_changes(plan: dict[str, Any] | None) -> bool:
    if plan is None:
        return False
    summary = plan.get("summary", {})
    return any(int(summary.get(k, 0)) > 0 for k in ("create", "update", "replace", "delete"))


def plan_title(outcome: Outcome, *, drift: bool = False) -> str:
    """The heading: what happened, in words. A plan that holds changes it will not apply is
    *blocked* (a replace without --allow-replace, a guardrail, a provider not read), which is
    not the same as a plan that could not be made."""
    if outcome.validate_exit != "0":
        return "invalid specs: nothing was planned"
    if outcome.from_fork:
        return "specs valid; no plan (pull requests from forks get no provider keys)"
    if outcome.plan_exit == "":
        return "specs valid; the plan did not run (see the workflow run)"
    if outcome.plan_exit == "0":
        return "no drift: the providers match the specs" if drift else "no changes"
    if outcome.plan_exit == "2":
        if drift:
            return f"drift: {_counts(outcome.plan)} to converge the providers to the specs"
        return "changes to apply on merge"
    plan = outcome.plan
    if plan is not None:
        unread = sorted({str(i.get("provider")) for i in plan.get("incomplete", [])})
        blocked = int(plan.get("summary", {}).get("blocked", 0))
        if unread:
            return f"plan blocked: {', '.join(unread)} could not be read (see below)"
        if blocked:
            needs = "1 change needs" if blocked == 1 else f"{blocked} changes need"
            return f"plan blocked: {needs} a decision (see why below)"
    return f"the plan failed (exit {outcome.plan_exit})"


def _counts(plan: dict[str, Any] | None) -> str:
    summary = (plan or {}).get("summary", {})
    parts = [
        f"{summary.get(action, 0)} to {action}"
        for action in ("create", "update", "replace", "delete")
        if int(summary.get(action, 0)) > 0
    ]
    return ", ".join(parts) or "changes"


def plan_details(outcome: Outcome) -> str:
    """The body under the heading: the plan, or the output that explains why there is none."""
    if outcome.validate_exit != "0" or outcome.from_fork or outcome.plan_exit == "":
        return fenced(outcome.validate_text)
    details = outcome.plan_markdown.rstrip("\n")
    if outcome.plan_exit in ("0", "2"):
        if outcome.plan_errors:
            details += (
                "\n\n<details><summary>messages</summary>\n\n"
                + fenced(outcome.plan_errors)
                + "\n</details>"
            )
        return details
    return "\n\n".join(part for part in (details, fenced(outcome.plan_errors)) if part.strip())


def document(first_line: str, title: str, details: str, footer: str) -> str:
    """``first_line`` (a marker), the heading, the details, the footer: whole."""
    return f"{first_line}\n### reconcile: {title}\n\n{details}{footer}"


def cut_to_fit(first_line: str, title: str, details: str, footer: str, full_at: str) -> str:
    """The same document within ``COMMENT_LIMIT``: the details cut, with a pointer to where the
    whole text is (the job summary)."""
    whole = document(first_line, title, details, footer)
    if len(whole) <= COMMENT_LIMIT:
        return whole
    note = f"\n\n**Too long for a comment: read it whole in the [job summary]({full_at}).**"
    room = COMMENT_LIMIT - len(document(first_line, title, "", footer)) - len(note)
    return document(first_line, title, details[:room] + note, footer)


def footer(commit: str, run_url: str, digest: str = "") -> str:
    """The last line: the commit it was made at, the plan's digest (what a reviewed apply
    confirms) and the run."""
    shown = f" · plan digest `{digest}`" if digest else ""
    return f"\n\n<sub>Commit {commit[:7]}{shown} · [workflow run]({run_url})</sub>"


def apply_title(validate_exit: str, apply_exit: str) -> str:
    if validate_exit != "0":
        return "invalid specs: nothing was applied"
    if apply_exit == "":
        return "the apply did not run (see the workflow run)"
    if apply_exit == "0":
        return "applied"
    return f"apply failed (exit {apply_exit})"


def plan_digest(plan: dict[str, Any]) -> str:
    """What a reviewer confirms: the options and each change (action, job, target, dataset
    fingerprint, blocker, the fields it changes and the whole spec it submits), hashed. Equal
    digests mean the same changes to the same jobs with the same data and the same
    parameters; the providers' progress on unchanged jobs does not count, nor where a spec sits
    in its file."""
    changes = [
        {
            "action": change.get("action"),
            "provider": change.get("provider"),
            "name": change.get("name"),
            "target_id": change.get("target_id"),
            "fingerprint": (change.get("upload") or {}).get("fingerprint"),
            "blocked": (change.get("blocked") or {}).get("kind"),
            "field_changes": change.get("field_changes"),
            "desired": _submitted(change.get("desired")),
        }
        for change in plan.get("changes", [])
        if change.get("action") != "noop"
    ]
    canonical = json.dumps(
        {"options": plan.get("options"), "changes": changes}, sort_keys=True, ensure_ascii=True
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _submitted(desired: Any) -> Any:
    """A change's desired job without its spec's position in the file: what is submitted."""
    if not isinstance(desired, dict) or not isinstance(desired.get("spec"), dict):
        return desired
    spec = {key: value for key, value in desired["spec"].items() if key != "source"}
    return {**desired, "spec": spec}


def status_description(title: str) -> str:
    """A commit status's description: GitHub keeps 140 characters."""
    return title if len(title) <= 140 else title[:139] + "…"
