"""``reconcile status`` shown: a text table, a markdown table or versioned JSON of every
managed job's sync, health and outputs (``reconciler.status``), and of the providers that could
not be read.

The outputs of a finished job (model id, weights URL, slug) follow its row in the text view,
one indented ``label: value`` line each, so that a script can pick one with ``grep``/``awk``
(the JSON has them under ``outputs``); a weights URL never carries a query (``JobOutputs``).

Remote ids, statuses, details, outputs and read errors are provider text: they pass through
``reconciler.sanitize`` (terminal, JSON) or ``reconciler.views.markdown`` for each view.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reconciler.core.observed import Health, JobOutputs
from reconciler.core.plan import IncompleteProvider
from reconciler.sanitize import json_dumps, one_line
from reconciler.status import JobStatus, Sync
from reconciler.views.markdown import code_cell, text_cell

STATUS_FORMAT_VERSION = 1


def _summary(statuses: list[JobStatus]) -> str:
    synced = sum(1 for s in statuses if s.sync is Sync.SYNCED)
    healthy = sum(1 for s in statuses if s.health is Health.HEALTHY)
    return (
        f"Status: {len(statuses)} managed jobs; {synced} synced,"
        f" {len(statuses) - synced} out of sync; {healthy} healthy"
    )


def _unread(incomplete: Sequence[IncompleteProvider], clean: Callable[[str], str]) -> list[str]:
    """One line per provider not read: its refusal of the service in its own words, or why its
    list could not be read."""
    return [
        f"! {i.provider}: {clean(i.error)}"
        if i.refused
        else f"! {i.provider}: could not be read ({clean(i.error)})"
        for i in incomplete
    ]


# The outputs as each view labels them, in the order shown.
_OUTPUT_LABELS = (("model_id", "model id"), ("weights_url", "weights"), ("slug", "slug"))


def _outputs(outputs: JobOutputs | None) -> list[tuple[str, str]]:
    """(label, value) of each output a job has, in the order shown."""
    if outputs is None:
        return []
    values = outputs.to_dict()
    return [(label, value) for key, label in _OUTPUT_LABELS if (value := values[key])]


def _incomplete_entry(incomplete: IncompleteProvider) -> dict[str, object]:
    return {
        "provider": incomplete.provider,
        "error": incomplete.error,
        "refused": incomplete.refused,
    }


def render_status_text(
    statuses: list[JobStatus], incomplete: Sequence[IncompleteProvider] = ()
) -> str:
    rows = [("PROVIDER", "JOB", "SYNC", "HEALTH", "REMOTE", "DETAIL")]
    rows += [
        (
            s.provider,
            one_line(s.name),
            s.sync.value,
            s.health.value,
            one_line(s.remote_id or "-"),
            one_line(s.detail),
        )
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = (cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        lines.append("  ".join(cells) + "  " + row[5])
        if index:  # a job's outputs on lines of their own, under its row
            outputs = _outputs(statuses[index - 1].outputs)
            lines += [f"    {label}: {one_line(value)}" for label, value in outputs]
    return "\n".join([*lines, *_unread(incomplete, one_line), "", _summary(statuses)]) + "\n"


def render_status_markdown(
    statuses: list[JobStatus], incomplete: Sequence[IncompleteProvider] = ()
) -> str:
    lines = [
        "### reconcile status",
        "",
        f"**{_summary(statuses)}**",
        "",
        "| provider | job | sync | health | remote id | outputs | detail |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {s.provider} | {code_cell(s.name)} | {s.sync.value} | {s.health.value} |"
        f" {code_cell(s.remote_id) if s.remote_id else '-'} | {_outputs_cell(s.outputs)} |"
        f" {text_cell(s.detail)} |"
        for s in statuses
    ]
    unread = _unread(incomplete, text_cell)
    lines += ["", *(f"> {line}" for line in unread)] if incomplete else []
    return "\n".join(lines) + "\n"


def _outputs_cell(outputs: JobOutputs | None) -> str:
    """A job's outputs in one table cell: each a label and its value in a code span."""
    shown = [f"{label} {code_cell(value)}" for label, value in _outputs(outputs)]
    return "<br>".join(shown) if shown else "-"


def render_status_json(
    statuses: list[JobStatus], incomplete: Sequence[IncompleteProvider] = ()
) -> str:
    document = {
        "format_version": STATUS_FORMAT_VERSION,
        "jobs": [s.to_dict() for s in statuses],
        "incomplete": [_incomplete_entry(i) for i in incomplete],
    }
    return json_dumps(document, indent=2, sort_keys=True) + "\n"
