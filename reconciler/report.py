"""What an apply did, for people (text, markdown) and machines (JSON); and the last-line
scrubbing of anything printed for secrets.

The plan itself is rendered by ``reconciler.render``; this module renders the ``ApplyResult``
that follows it: one line per change carried out, failed or blocked (failures name the
provider, the job and the provider's message), then a summary line. ``redact`` removes what
must never be printed (API keys, URL query strings where pre-signed signatures live) from
text that came from elsewhere, such as an unexpected error's message. Nothing here does I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from reconciler.apply import ApplyResult, Outcome, OutcomeKind
from reconciler.model import PLAN_FORMAT_VERSION, Plan

_MARKS = {OutcomeKind.DONE: "ok", OutcomeKind.FAILED: "FAILED", OutcomeKind.BLOCKED: "blocked"}
# A URL's query string and fragment: where pre-signed signatures and tokens travel.
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)[?#][^\s\"'<>]*")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization|x-api-key)\b(['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+")


def _line(outcome: Outcome) -> str:
    where = f"{outcome.provider}/{outcome.name}"
    action = outcome.change.action.value
    return f"  {_MARKS[outcome.kind]:<7} {action:<7} {where}: {redact(outcome.message)}"


def render_result_text(result: ApplyResult) -> str:
    lines = [_line(o) for o in result.outcomes]
    failures = result.of_kind(OutcomeKind.FAILED)
    if failures:
        lines.append("")
        lines.append(f"{len(failures)} failed:")
        lines.extend(f"  {o.provider}/{o.name}: {redact(o.message)}" for o in failures)
    lines.append("")
    lines.append(result.summary_line())
    return "\n".join(lines) + "\n"


def render_result_markdown(result: ApplyResult) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")

    lines = [
        "### reconcile apply",
        "",
        f"**{result.summary_line()}**",
        "",
    ]
    if result.outcomes:
        lines += ["| outcome | action | job | message |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {o.kind.value} | {o.change.action.value} | {o.provider}/`{o.name}` |"
            f" {cell(redact(o.message))} |"
            for o in result.outcomes
        ]
    return "\n".join(lines) + "\n"


def apply_document(plan: Plan, result: ApplyResult | None) -> dict[str, Any]:
    """The JSON of a converge: the plan (docs/plans.md) and what became of each change
    (``null`` when nothing was applied)."""
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "plan": plan.to_dict(),
        "apply": None if result is None else _redacted(result.to_dict()),
    }


def _redacted(document: dict[str, Any]) -> dict[str, Any]:
    for outcome in document["outcomes"]:
        outcome["message"] = redact(outcome["message"])
    return document


def render_apply_json(plan: Plan, result: ApplyResult | None) -> str:
    return json.dumps(apply_document(plan, result), indent=2, sort_keys=True) + "\n"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without URL query strings, credential headers, or any of ``secrets``."""
    text = _URL_QUERY.sub(r"\1?…", text)
    text = _AUTH_HEADER.sub(r"\1\2****", text)
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "****")
    return text
