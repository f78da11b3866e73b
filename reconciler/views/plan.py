"""Plan -> text (terminal), markdown (pull-request comment) or JSON (machines).

All three read the same ``Plan`` value and nothing else; none does I/O. Text uses colour only
when asked (``color=True``, i.e. on a terminal) and shows one line per job with the action's
symbol (``+`` create, ``~`` update, ``-/+`` replace, ``-`` delete) and its reason, upload lines
with the dataset's size and fingerprint, then a summary line; jobs in sync are counted in one
line unless asked for (``show_unchanged``), and so are the jobs a scoped plan (``--target``,
some PATHs) leaves out. Markdown stays under GitHub's
comment limit by leaving out whole rows and saying how many. JSON is the versioned format of
docs/plans.md with sorted keys, so two equal plans render to the same bytes.

Names, statuses and messages come from providers and file names from the repository: each
view passes them through ``reconciler.sanitize`` (escaped for a terminal, ASCII-escaped in
JSON) or ``reconciler.views.markdown`` (inert in markdown), so none of them can drive a
terminal, forge a line or a row, or mention, link or embed anything in a pull-request comment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from reconciler.core.action import Action
from reconciler.core.observed import Health, ObservedJob
from reconciler.core.plan import (
    BlockKind,
    Change,
    IncompleteProvider,
    Plan,
    PlanOrigin,
    PlanSummary,
    Upload,
)
from reconciler.diff import guardrail_counts
from reconciler.diff.staleness import paths_phrase, target_phrase
from reconciler.sanitize import one_line
from reconciler.views.markdown import code_cell, text_cell
from reconciler.views.sizes import human_size

MARKDOWN_LIMIT = 60_000  # GitHub rejects comments over 65,536 characters; keep a margin

_RESET = "\033[0m"
_COLOURS = {
    Action.CREATE: "\033[32m",  # green
    Action.UPDATE: "\033[33m",  # yellow
    Action.REPLACE: "\033[35m",  # magenta
    Action.DELETE: "\033[31m",  # red
    Action.NOOP: "",
}
_BLOCKED_COLOUR = "\033[1;31m"
_DIM = "\033[2m"


def summary_line(summary: PlanSummary) -> str:
    """``Plan: 2 to create, 1 to update, 0 to replace, 0 to delete; 3 unchanged; 1 blocked``
    (and ``; 1 warning`` when a change cannot be made by anyone)."""
    warnings = summary.warnings
    noted = f"; {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    if summary.not_planned:
        noted += f"; {summary.not_planned} not planned"
    return (
        f"Plan: {summary.create} to create, {summary.update} to update,"
        f" {summary.replace} to replace, {summary.delete} to delete;"
        f" {summary.noop} unchanged; {summary.blocked} blocked{noted}"
    )


def _unread_lines(incomplete: IncompleteProvider) -> tuple[str, str | None]:
    """A provider that could not be read, said first: why (its error names what to do, e.g.
    the key variable to set), then how many of its specs the plan leaves out because of it."""
    # The error usually starts with the provider's name already.
    error = incomplete.error.removeprefix(f"{incomplete.provider}: ")
    cause = f"{incomplete.provider} could not be read: {error}"
    count = len(incomplete.not_planned)
    if not count:
        return cause, None
    return cause, (
        f"{count} spec{'s' if count != 1 else ''} not planned: {incomplete.provider} could"
        " not be read; nothing is sent there until it is (fix the cause and plan again)"
    )


def guardrails_line(plan: Plan) -> str:
    """What the plan would do against its guardrails: ``Guardrails: 3 of at most 50 creates,
    0 of 10 replaces, 0 of 10 deletes``."""
    counts = guardrail_counts(plan.changes)
    limits = plan.options.guardrails
    return (
        f"Guardrails: {counts[Action.CREATE]} of at most {limits.max_creates} creates,"
        f" {counts[Action.REPLACE]} of {limits.max_replaces} replaces,"
        f" {counts[Action.DELETE]} of {limits.max_deletes} deletes"
    )


def _shown_path(path: Path, relative_to: Path | None) -> str:
    """``path`` relative to ``relative_to`` when inside it (as ``Path.relative_to``), on
    strings: a plan shows a thousand uploads."""
    shown = str(path)
    if relative_to is not None:
        root = str(relative_to)
        if shown == root:
            return "."
        prefix = root if root.endswith(os.sep) else root + os.sep
        if shown.startswith(prefix):
            return shown[len(prefix) :]
    return shown


def _upload_text(upload: Upload, relative_to: Path | None) -> str:
    return (
        f"upload {_shown_path(upload.path, relative_to)} ({human_size(upload.size)},"
        f" fingerprint {upload.fingerprint[:12]}) as {upload.remote_name}"
    )


def _detail_lines(change: Change, relative_to: Path | None) -> list[str]:
    """The indented lines under a change: uploads, field differences, what blocks it."""
    lines = []
    # A blocked change does nothing; its dataset lines say what unblocking it would do.
    would = "would " if change.blocked is not None else ""
    if change.upload is not None:
        lines.append(would + _upload_text(change.upload, relative_to))
    if change.reuse is not None:
        reuse = change.reuse
        lines.append(f"{would}reuse uploaded dataset {reuse.remote_id} ({reuse.name})")
    for field_change in change.field_changes:
        lines.append(f"{field_change.path}: {field_change.remote!r} -> {field_change.desired!r}")
    if change.delete_method is not None and change.target_id is not None:
        lines.append(f"{change.delete_method.value.replace('_', ' ')} {change.target_id}")
    blocked = change.blocked
    if blocked is not None:
        # The block's own reason, when it is not the change's (a guardrail, a pending create).
        why = f"{blocked.reason}; " if blocked.reason != change.reason else ""
        lines.append(f"{'to do' if blocked.is_warning else 'blocked'}: {why}{blocked.fix}")
    return lines


def _label(change: Change) -> str:
    """The action as a change line names it: ``create``, ``delete (not possible)``..."""
    if change.blocked is None:
        return change.action.value
    if change.blocked.is_warning:
        return f"{change.action.value} (not possible)"
    if change.blocked.kind is BlockKind.UNCONFIRMED:
        return f"{change.action.value} (unconfirmed)"
    return f"{change.action.value} (blocked)"


def _unmanaged_note(job: ObservedJob, plan: Plan) -> str:
    options = plan.options
    if not job.owned_by(options.owner):
        return ""
    if job.name is not None and (job.provider, job.name) in options.forget:
        return " (this repository's; forgotten)"
    if options.prune:
        return " (this repository's; nothing to delete)"
    return " (this repository's; --prune would delete it)"


def _hidden(change: Change) -> bool:
    """A job the text plan counts rather than lists (without ``--show-unchanged``): in sync
    and not failed. A failed job stays listed: it needs someone to act."""
    return change.action is Action.NOOP and change.health is not Health.DEGRADED


def _jobs(count: int) -> str:
    return f"{count:,} job{'s' if count != 1 else ''}"


def not_targeted_line(plan: Plan) -> str | None:
    """``12 other jobs not targeted`` when a scoped plan left some of the repository's jobs
    out (``--target``, some PATHs), else ``None``."""
    if not plan.not_targeted:
        return None
    return (
        f"{_jobs(len(plan.not_targeted)).replace(' ', ' other ', 1)} not targeted"
        " (not planned: neither unmanaged nor deleted)"
    )


def origin_line(origin: PlanOrigin | None) -> str:
    """What a saved plan was made for, as ``reconcile show`` says it first."""
    if origin is None:
        return "Saved plan; what it was made for is not recorded (an older reconcile wrote it)"
    target = target_phrase(origin, "no provider")
    return one_line(f"Saved plan made for {target}; paths: {paths_phrase(origin.paths)}")


def render_text(
    plan: Plan, *, color: bool, relative_to: Path | None = None, show_unchanged: bool = False
) -> str:
    """The plan for a terminal: the providers that could not be read or refuse the service
    first (said once, with why; the specs left unplanned counted), then per provider one line
    per job, then the summary line.

    Jobs in sync (and not failed) are one count (``1,970 jobs unchanged``) unless
    ``show_unchanged``: in a large account they would bury the changes."""

    def paint(text: str, colour: str) -> str:
        return f"{colour}{text}{_RESET}" if color and colour else text

    out: list[str] = []
    for incomplete in plan.incomplete:
        if incomplete.refused:
            line = f"{incomplete.provider}: {incomplete.error}"
            out.append(paint(f"! {one_line(line)}", _BLOCKED_COLOUR))
            continue
        cause, unplanned = _unread_lines(incomplete)
        out.append(paint(f"! {one_line(cause)}", _BLOCKED_COLOUR))
        if unplanned is not None:
            out.append(f"    {one_line(unplanned)}")
    shown = [c for c in plan.changes if show_unchanged or not _hidden(c)]
    hidden = len(plan.changes) - len(shown)
    width = max((len(one_line(c.name)) for c in shown), default=0)
    provider = None
    for change in shown:
        if change.provider != provider:
            provider = change.provider
            if out:
                out.append("")
            out.append(f"{provider}:")
        symbol = paint(f"{change.action.symbol:>3}", _COLOURS[change.action])
        name, reason = one_line(change.name), one_line(change.reason)
        if change.action is Action.NOOP:
            health = change.health.value if change.health else "Unknown"
            out.append(f"{symbol} {name:<{width}}  {paint(health, _DIM)}: {reason}")
            continue
        label = _label(change)
        if change.blocked is not None:
            verb, _, note = label.partition(" ")
            label = f"{verb} {paint(note, _DIM if change.blocked.is_warning else _BLOCKED_COLOUR)}"
        out.append(f"{symbol} {name:<{width}}  {label}: {reason}")
        out.extend(f"      {one_line(line)}" for line in _detail_lines(change, relative_to))
    if hidden or plan.not_targeted:
        if out:
            out.append("")
        if hidden:
            out.append(f"{_jobs(hidden)} unchanged (not listed; --show-unchanged lists them)")
        targeted = not_targeted_line(plan)
        if targeted is not None:
            out.append(targeted)
    if plan.unmanaged:
        if out:
            out.append("")
        out.append("Unmanaged (not this repository's, or no spec names them; never changed):")
        for job in plan.unmanaged:
            name = job.remote_name or "(no name)"
            note = _unmanaged_note(job, plan)
            line = f"{job.provider} {name} {job.remote_id} {job.raw_status}{note}"
            out.append(f"    {one_line(line)}")
    if out:
        out.append("")
    out.append(summary_line(plan.summary))
    return "\n".join(out) + "\n"


# --- Markdown ------------------------------------------------------------------------------


def _change_row(change: Change, relative_to: Path | None) -> str:
    verb, _, note = _label(change).partition(" ")
    action = f"{verb} **{note.strip('()')}**" if note else verb
    notes = "<br>".join(text_cell(line) for line in _detail_lines(change, relative_to))
    reason = text_cell(change.reason) + (f"<br>{notes}" if notes else "")
    return f"| `{change.action.symbol}` | {code_cell(change.name)} | {action} | {reason} |"


def _noop_row(change: Change) -> str:
    health = change.health.value if change.health else "Unknown"
    return f"| {code_cell(change.name)} | {health} | {text_cell(change.reason)} |"


def _unmanaged_row(job: ObservedJob, plan: Plan) -> str:
    name = code_cell(job.remote_name) if job.remote_name else "(no name)"
    note = _unmanaged_note(job, plan).strip(" ()")
    status = text_cell(job.raw_status)
    return f"| {job.provider} | {name} | {code_cell(job.remote_id)} | {status} | {note} |"


class _Budget:
    """Collects markdown lines while they fit; counts the rows that did not."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.used = 0
        self.left_out = 0

    def fits(self, line: str, reserve: int) -> bool:
        return self.used + len(line) + 1 + reserve <= self.limit

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.used += len(line) + 1


def _section(
    budget: _Budget, opening: Iterable[str], rows: list[str], closing: Iterable[str]
) -> None:
    """One table (with its heading and details wrapper), rows added while the budget lasts."""
    if not rows:
        return
    closing = list(closing)
    reserve = sum(len(line) + 1 for line in closing) + 200  # room for the truncation notice
    opening = list(opening)
    if budget.left_out or not budget.fits("\n".join(opening), reserve):
        budget.left_out += len(rows)
        return
    for line in opening:
        budget.add(line)
    for index, row in enumerate(rows):
        if not budget.fits(row, reserve):
            budget.left_out += len(rows) - index
            break
        budget.add(row)
    for line in closing:
        budget.add(line)


def render_markdown(
    plan: Plan, *, limit: int = MARKDOWN_LIMIT, relative_to: Path | None = None
) -> str:
    """The plan as a pull-request comment, under ``limit`` characters.

    Changes come first, a table per provider; unchanged jobs and unmanaged jobs follow in
    collapsed sections. Rows that do not fit are left out and counted in a closing note.
    """
    budget = _Budget(limit)
    budget.add("### reconcile plan")
    budget.add("")
    budget.add(f"**{summary_line(plan.summary)}**")
    budget.add("")
    budget.add(f"_{guardrails_line(plan)}_")
    budget.add("")
    targeted = not_targeted_line(plan)
    if targeted is not None:
        budget.add(f"_{targeted}_")
        budget.add("")
    for incomplete in plan.incomplete:
        if incomplete.refused:
            # Said once here; each of its changes only points at it.
            budget.add(f"> **{incomplete.provider}**: {text_cell(incomplete.error)}")
        else:
            cause, unplanned = _unread_lines(incomplete)
            why = text_cell(cause.removeprefix(incomplete.provider).lstrip())
            line = f"> **{incomplete.provider}** {why}"
            budget.add(line + (f"<br>{text_cell(unplanned)}" if unplanned else ""))
        budget.add("")
    providers = sorted({c.provider for c in plan.changes})
    for provider in providers:
        changes = [c for c in plan.changes if c.provider == provider]
        acting = [_change_row(c, relative_to) for c in changes if c.action is not Action.NOOP]
        heading = [f"#### {provider}", ""]
        if not budget.left_out and budget.fits("\n".join(heading), 400):
            for line in heading:
                budget.add(line)
        _section(
            budget,
            ["| | job | action | reason |", "| --- | --- | --- | --- |"],
            acting,
            [""],
        )
        unchanged = [_noop_row(c) for c in changes if c.action is Action.NOOP]
        _section(
            budget,
            [
                f"<details><summary>{provider}: {len(unchanged)} unchanged</summary>",
                "",
                "| job | health | status |",
                "| --- | --- | --- |",
            ],
            unchanged,
            ["", "</details>", ""],
        )
    _section(
        budget,
        [
            f"<details><summary>{len(plan.unmanaged)} unmanaged (never changed)</summary>",
            "",
            "| provider | job | remote id | status | note |",
            "| --- | --- | --- | --- | --- |",
        ],
        [_unmanaged_row(job, plan) for job in plan.unmanaged],
        ["", "</details>", ""],
    )
    if budget.left_out:
        budget.add(
            f"_{budget.left_out} more row{'s' if budget.left_out != 1 else ''} left out to fit"
            " a comment; run `reconcile plan --output json` for the whole plan._"
        )
    return "\n".join(budget.lines) + "\n"
