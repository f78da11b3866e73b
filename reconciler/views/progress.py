"""Upload progress: a one-line bar on a terminal's stderr, and nothing anywhere else.

The bar shows datasets done, bytes done of the total, and a percentage, as apply reports them
through ``reconciler.progress.UploadProgress``. It is drawn only when stderr is a terminal and
the output is meant for people (the command line never passes one with ``--output json``), so
logs and pipes never see carriage returns. Thread-safe: uploads finish on several threads at
once.
"""

from __future__ import annotations

import threading
from typing import TextIO

from reconciler.progress import NO_PROGRESS, UploadProgress
from reconciler.views.sizes import human_size

_BAR_WIDTH = 30


class TerminalProgress:
    """A bar redrawn in place on ``stream`` (a terminal's stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._total = 0
        self._count = 0
        self._done_bytes = 0
        self._done = 0

    def begin(self, total_bytes: int, count: int) -> None:
        with self._lock:
            self._total, self._count, self._done_bytes, self._done = total_bytes, count, 0, 0
            self._draw()

    def advance(self, done_bytes: int) -> None:
        with self._lock:
            self._done_bytes += done_bytes
            self._done += 1
            self._draw()

    def end(self) -> None:
        with self._lock:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        fraction = self._done_bytes / self._total if self._total else 1.0
        filled = int(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        self._stream.write(
            f"\ruploading [{bar}] {self._done}/{self._count} datasets,"
            f" {human_size(self._done_bytes)} of {human_size(self._total)} ({fraction:.0%})"
        )
        self._stream.flush()


def progress_for(stream: TextIO, *, for_people: bool) -> UploadProgress:
    """A terminal bar when ``stream`` is a terminal and the output is for people, else none."""
    isatty = getattr(stream, "isatty", None)
    if for_people and isatty is not None and isatty():
        return TerminalProgress(stream)
    return NO_PROGRESS
