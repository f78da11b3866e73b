"""The seam apply reports upload progress to: ``UploadProgress``, and ``NO_PROGRESS`` that
shows nothing.

Apply reports bytes as each dataset finishes uploading, from several threads at once. What is
shown of it is a view's (``reconciler.views.progress``: a bar on a terminal's stderr).
"""

from __future__ import annotations

from typing import Protocol


class UploadProgress(Protocol):
    """Receives upload progress from apply."""

    def begin(self, total_bytes: int, count: int) -> None: ...

    def advance(self, done_bytes: int) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    """Shows nothing (pipes, CI logs, ``--output json``, tests)."""

    def begin(self, total_bytes: int, count: int) -> None:
        return None

    def advance(self, done_bytes: int) -> None:
        return None

    def end(self) -> None:
        return None


NO_PROGRESS = NoProgress()
