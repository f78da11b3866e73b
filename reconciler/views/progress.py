"""Apply progress: a bar per stage on a terminal's stderr, and nothing anywhere else.

Three lines, redrawn in place as apply reports them through
``reconciler.progress.ApplyProgress``:

    uploads     [###############---------------] 25/50 datasets, 1.2 MB of 2.4 MB
    validation  [##########--------------------] 8 of 24 validated
    submits     [#####-------------------------] 25/150 jobs

Drawn only when stderr is a terminal and the output is meant for people (the command line never
passes one with ``--output json``), so logs and pipes never see cursor movements. Thread-safe:
every stage reports from threads of its own.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TextIO

from reconciler.progress import NO_PROGRESS, ApplyProgress
from reconciler.views.sizes import human_size

_BAR_WIDTH = 30
_LINES = 3
# Back to the first of the bars' lines (cursor to the start of the line N lines up), and
# clearing a line before it is drawn again.
_UP = f"\x1b[{_LINES - 1}F"
_CLEAR = "\x1b[2K"


def _bar(done: int, total: int) -> str:
    fraction = done / total if total else 1.0
    filled = int(fraction * _BAR_WIDTH)
    return "[" + "#" * filled + "-" * (_BAR_WIDTH - filled) + "]"


class TerminalProgress:
    """The stages' bars redrawn in place on ``stream`` (a terminal's stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._drawn = False
        self._broken = False
        self._uploads = self._uploaded = 0
        self._bytes = self._uploaded_bytes = 0
        self._waiting = self._validated = 0
        self._submits = self._submitted = 0

    def begin(self, *, uploads: int, upload_bytes: int, submits: int) -> None:
        with self._lock:
            self._uploads, self._bytes, self._submits = uploads, upload_bytes, submits
            self._draw()

    def uploaded(self, size: int) -> None:
        with self._lock:
            self._uploaded += 1
            self._uploaded_bytes += size
            self._draw()

    def waiting(self) -> None:
        with self._lock:
            self._waiting += 1
            self._draw()

    def validated(self) -> None:
        with self._lock:
            self._validated += 1
            self._draw()

    def submitted(self) -> None:
        with self._lock:
            self._submitted += 1
            self._draw()

    def end(self) -> None:
        with self._lock:
            if self._drawn and not self._broken:
                with contextlib.suppress(OSError, ValueError):
                    self._stream.write("\n")
                    self._stream.flush()

    def lines(self) -> tuple[str, str, str]:
        """The three bars as they stand."""
        return (
            f"uploads     {_bar(self._uploaded, self._uploads)} {self._uploaded}/{self._uploads}"
            f" datasets, {human_size(self._uploaded_bytes)} of {human_size(self._bytes)}",
            f"validation  {_bar(self._validated, self._waiting)} {self._validated} of"
            f" {self._waiting} validated",
            f"submits     {_bar(self._submitted, self._submits)} {self._submitted}/{self._submits}"
            " jobs",
        )

    def _draw(self) -> None:
        if self._broken:
            return
        text = "\n".join(_CLEAR + "\r" + line for line in self.lines())
        try:
            self._stream.write((_UP if self._drawn else "") + text)
            self._drawn = True
            self._stream.flush()
        except (OSError, ValueError):
            # The terminal went away (a closed session: EIO, a closed stream): the bars stop,
            # the apply goes on. A bar that raised here would fail an upload that worked, or
            # leave a job the apply waits for forever.
            self._broken = True


def progress_for(stream: TextIO, *, for_people: bool) -> ApplyProgress:
    """Terminal bars when ``stream`` is a terminal and the output is for people, else none."""
    isatty = getattr(stream, "isatty", None)
    if for_people and isatty is not None and isatty():
        return TerminalProgress(stream)
    return NO_PROGRESS
