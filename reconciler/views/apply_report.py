"""What an apply did, for people (text, markdown) and machines (JSON).

The plan itself is rendered by ``reconciler.views.plan``; this module renders the
``ApplyResult`` that follows it: first the message of each provider that refused the service
part-way (once: its blocked changes only point at it), then one line per change carried out,
failed, blocked, unconfirmed or warned about (failures and unconfirmed creates again at the end,
naming the provider, the job and the provider's message), then a summary line. Messages pass through
``reconciler.redact`` once more on the way out, whatever produced them, then through
``reconciler.sanitize`` or ``reconciler.views.markdown`` for the view (a provider's message may
carry escape sequences, line breaks, mentions or links). Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.outcome import ApplyResult, Outcome, OutcomeKind
from reconciler.core.plan import Plan
from reconciler.planfile import PLAN_FORMAT_VERSION, plan_to_dict
from reconciler.redact import redact
from reconciler.sanitize import json_dumps, one_line
from reconciler.views.markdown import code_cell, text_cell

_MARKS = {
    OutcomeKind.DONE: "ok",
    OutcomeKind.FAILED: "FAILED",
    OutcomeKind.BLOCKED: "blocked",
    OutcomeKind.UNCONFIRMED: "UNCONFIRMED",
    OutcomeKind.WARNING: "warning",
}


def _said(outcome: Outcome) -> str:
    """``provider/name: message`` for a terminal."""
    return f"{outcome.provider}/{one_line(outcome.name)}: {one_line(redact(outcome.message))}"


def _line(outcome: Outcome) -> str:
    action = outcome.change.action.value
    return f"  {_MARKS[outcome.kind]:<7} {action:<7} {_said(outcome)}"


def render_result_text(result: ApplyResult) -> str:
    if not result.outcomes:
        return "Nothing to apply: every job matches its spec.\n"
    lines = [f"! {r.provider}: {one_line(redact(r.message))}" for r in result.refusals]
    lines += [_line(o) for o in result.outcomes]
    failures = result.of_kind(OutcomeKind.FAILED)
    if failures:
        lines.append("")
        lines.append(f"{len(failures)} failed:")
        lines.extend(f"  {_said(o)}" for o in failures)
    unconfirmed = result.of_kind(OutcomeKind.UNCONFIRMED)
    if unconfirmed:
        lines.append("")
        lines.append(
            f"{len(unconfirmed)} unconfirmed (a create whose outcome is not known yet; it is"
            " never sent again until the provider shows it does not exist):"
        )
        lines.extend(f"  {_said(o)}" for o in unconfirmed)
    lines.append("")
    lines.append(result.summary_line())
    return "\n".join(lines) + "\n"


def render_result_markdown(result: ApplyResult) -> str:
    lines = [
        "### reconcile apply",
        "",
        f"**{result.summary_line()}**",
        "",
    ]
    for refusal in result.refusals:
        # Said once here; each of its blocked changes only points at it.
        lines += [f"> **{refusal.provider}**: {text_cell(redact(refusal.message))}", ""]
    if result.outcomes:
        lines += ["| outcome | action | job | message |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {o.kind.value} | {o.change.action.value} | {o.provider}/{code_cell(o.name)} |"
            f" {text_cell(redact(o.message))} |"
            for o in result.outcomes
        ]
    return "\n".join(lines) + "\n"


def apply_document(plan: Plan, result: ApplyResult | None) -> dict[str, Any]:
    """The JSON of a converge: the plan (docs/plans.md) and what became of each change
    (``null`` when nothing was applied)."""
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "plan": plan_to_dict(plan),
        "apply": None if result is None else _redacted(result.to_dict()),
    }


def _redacted(document: dict[str, Any]) -> dict[str, Any]:
    for outcome in document["outcomes"]:
        outcome["message"] = redact(outcome["message"])
    for provider, message in document["refused"].items():
        document["refused"][provider] = redact(message)
    return document


def render_apply_json(plan: Plan, result: ApplyResult | None) -> str:
    return json_dumps(apply_document(plan, result), indent=2, sort_keys=True) + "\n"
