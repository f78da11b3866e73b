"""``reconcile validate`` shown: the line that says every spec is valid, and the report of
problems in the input that any command prints (on stderr) before it exits 1.

A diagnostic shows its file name, field and message escaped (``reconciler.core.diagnostics``), so a
file named to break its line cannot forge another. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.core.diagnostics import Diagnostic
from reconciler.core.spec import FineTuneSpec


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def render_valid(specs: Sequence[FineTuneSpec]) -> str:
    """``ok: 3 specs in 2 files valid``."""
    files = len({spec.source.file for spec in specs})
    return f"ok: {_counted(len(specs), 'spec')} in {_counted(files, 'file')} valid\n"


def render_problems(diagnostics: Sequence[Diagnostic]) -> str:
    """Every diagnostic on a line of its own (``path:line:col: field: message``), then how
    many problems in how many files, and that nothing was sent."""
    files = len({diagnostic.file for diagnostic in diagnostics})
    summary = (
        f"{_counted(len(diagnostics), 'problem')} in {_counted(files, 'file')};"
        " no change was sent to any provider."
    )
    return "\n".join([*map(str, diagnostics), summary]) + "\n"
