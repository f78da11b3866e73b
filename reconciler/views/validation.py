"""``reconcile validate`` shown: the line that says every spec is valid, the report of problems
in the input that any command prints (on stderr) before it exits 1, and the two forms of
``validate --output``: JSON (every problem with its file, line, column, field, message and
severity, and the valid specs) and GitHub Actions workflow commands (an ``::error`` annotation
per problem, on the file and line of the pull request's diff).

A diagnostic shows its file name, field and message escaped (``reconciler.core.diagnostics``), so a
file named to break its line cannot forge another. The annotations carry the same text escaped
twice over: first as one line (``one_line``: no control character reaches the log), then as
GitHub's runner decodes a command (``%``, CR and LF in the message; in a property also ``:`` and
``,``), so that no spec content can end an annotation early, set another property, or start a
second workflow command. JSON is ASCII (``json_dumps``) and exact. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.core.diagnostics import Diagnostic
from reconciler.core.spec import FineTuneSpec
from reconciler.sanitize import json_dumps, one_line

# GitHub's runner decodes these in a workflow command's message (toolkit's escapeData), and
# these besides in a property value (escapeProperty); '%' first, so that no escape is doubled.
_DATA_ESCAPES = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = (*_DATA_ESCAPES, (":", "%3A"), (",", "%2C"))
_TITLE = "reconcile validate"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def render_valid(specs: Sequence[FineTuneSpec]) -> str:
    """``ok: 3 specs in 2 files valid``."""
    return _valid_line(specs) + "\n"


def _valid_line(specs: Sequence[FineTuneSpec]) -> str:
    files = len({spec.source.file for spec in specs})
    return f"ok: {_counted(len(specs), 'spec')} in {_counted(files, 'file')} valid"


def _problems_line(diagnostics: Sequence[Diagnostic]) -> str:
    files = len({diagnostic.file for diagnostic in diagnostics})
    return (
        f"{_counted(len(diagnostics), 'problem')} in {_counted(files, 'file')};"
        " no change was sent to any provider."
    )


def render_problems(diagnostics: Sequence[Diagnostic]) -> str:
    """Every diagnostic on a line of its own (``path:line:col: field: message``), then how
    many problems in how many files, and that nothing was sent."""
    return "\n".join([*map(str, diagnostics), _problems_line(diagnostics)]) + "\n"


# --- JSON ----------------------------------------------------------------------------------


def render_json(
    specs: Sequence[FineTuneSpec], problems: Sequence[Diagnostic], warnings: Sequence[str]
) -> str:
    """The validation as JSON: ``ok``, ``problems`` (errors with their position; warnings,
    which concern no one file, with ``null`` there), the valid ``specs`` (none when any
    problem was found: nothing is valid until every file is) and counts."""
    entries: list[dict[str, Any]] = [
        {
            "file": problem.file,
            "line": problem.line,
            "column": problem.col,
            "field": problem.field or None,
            "message": problem.message,
            "severity": "error",
        }
        for problem in problems
    ]
    entries += [
        {
            "file": None,
            "line": None,
            "column": None,
            "field": None,
            "message": warning,
            "severity": "warning",
        }
        for warning in warnings
    ]
    document = {
        "ok": not problems,
        "problems": entries,
        "specs": [
            {
                "file": str(spec.source.file),
                "line": spec.source.line,
                "column": spec.source.col,
                "name": spec.name,
                "provider": spec.provider,
                "base_model": spec.base_model,
            }
            for spec in specs
        ],
        "summary": {
            "errors": len(problems),
            "warnings": len(warnings),
            "files_with_errors": len({problem.file for problem in problems}),
            "specs": len(specs),
        },
    }
    return json_dumps(document, indent=2, sort_keys=True) + "\n"


# --- GitHub Actions ------------------------------------------------------------------------


def _escaped(text: str, escapes: Sequence[tuple[str, str]]) -> str:
    text = one_line(text)
    for raw, escape in escapes:
        text = text.replace(raw, escape)
    return text


def workflow_command(command: str, message: str, **properties: str | int) -> str:
    """``::command key=value,...::message`` with every value and the message escaped as
    GitHub's runner decodes them (after ``one_line``), so that it stays one command."""
    shown = ",".join(
        f"{key}={_escaped(str(value), _PROPERTY_ESCAPES)}" for key, value in properties.items()
    )
    return f"::{command}{' ' + shown if shown else ''}::{_escaped(message, _DATA_ESCAPES)}"


def render_github(
    specs: Sequence[FineTuneSpec], problems: Sequence[Diagnostic], warnings: Sequence[str]
) -> str:
    """The validation as GitHub Actions annotations: an ``::error`` on each problem's file,
    line and column (titled with its field), a file-less ``::warning`` for each warning, then
    the summary as a plain line."""
    lines = [
        workflow_command(
            "error",
            problem.message,
            file=problem.file,
            line=problem.line,
            col=problem.col,
            title=f"{_TITLE}: {problem.field}" if problem.field else _TITLE,
        )
        for problem in problems
    ]
    lines += [workflow_command("warning", warning, title=_TITLE) for warning in warnings]
    lines.append(_problems_line(problems) if problems else _valid_line(specs))
    return "\n".join(lines) + "\n"
