"""Diagnostics: problems found in the user's input, collected as values and reported together.

Validation never stops at the first problem: every checker appends ``Diagnostic`` values to a
list, and the command line prints them all at once (``path:line:col: field: message``), sorted,
then exits 1. A diagnostic's line is one line whatever the file is called: the file name, the
field path and the message come from the repository (a pull request names its files and keys)
and are shown escaped as ``reconciler.sanitize.one_line`` does. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.sanitize import one_line


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one input file, positioned so an editor can jump to it.

    ``line`` and ``col`` are 1-based, as editors and compilers print them. ``field`` is the
    dotted path of the offending field inside the document (``parameters.iterations``), or ""
    when the problem is about the file as a whole. ``message`` says what is wrong and, where
    it is not obvious, what to do about it.
    """

    file: str
    line: int
    col: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{one_line(self.file)}:{self.line}:{self.col}"
        message = one_line(self.message)
        return (
            f"{where}: {one_line(self.field)}: {message}" if self.field else f"{where}: {message}"
        )


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class InvalidInputError(Exception):
    """Raised when input is invalid; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__(f"{len(self.diagnostics)} problem(s) in the input")
