"""Dataset problems: what the checks return instead of raising.

A check collects every problem it finds (up to a cap per file, so a broken million-line file
does not print a million lines) and returns them; the spec layer turns them into diagnostics
next to the spec that names the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Beyond this many problems in one file, the rest are counted, not listed.
MAX_PROBLEMS_PER_FILE = 20


@dataclass(frozen=True)
class DatasetProblem:
    """One problem with a dataset.

    ``path`` is the dataset file (or the file inside a dataset folder) at fault; ``line`` is
    the 1-based line of that file when the problem is at a line (a CSV row, a JSONL line), and
    None when it concerns the dataset as a whole. ``message`` says what is wrong and what to do.
    """

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        return f"{where}: {self.message}"


class ProblemLog:
    """Problems of one file, listed up to ``MAX_PROBLEMS_PER_FILE`` and counted beyond."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listed: list[DatasetProblem] = []
        self._unlisted = 0

    def add(self, line: int | None, message: str, *, path: Path | None = None) -> None:
        """Log a problem of the file, or of ``path`` (a file inside a dataset folder)."""
        if len(self._listed) < MAX_PROBLEMS_PER_FILE:
            self._listed.append(DatasetProblem(path or self.path, line, message))
        else:
            self._unlisted += 1

    def __bool__(self) -> bool:
        return bool(self._listed)

    def problems(self) -> list[DatasetProblem]:
        if not self._unlisted:
            return list(self._listed)
        more = DatasetProblem(
            self.path,
            None,
            f"{self._unlisted} more problem{'s' if self._unlisted != 1 else ''} not listed;"
            " fix the ones above and check again",
        )
        return [*self._listed, more]
