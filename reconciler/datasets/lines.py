"""Bounded, streaming reading of UTF-8 text datasets, one physical line at a time.

CSV and JSONL checks read through here so that memory stays bounded whatever the file's size:
one line at a time, and no line longer than ``MAX_LINE_BYTES``. The first encoding error or
over-long line is reported (with its line number) and ends the reading, since everything after
it would be guesswork. A UTF-8 byte order mark at the start is accepted and dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reconciler.datasets.problems import ProblemLog

MAX_LINE_BYTES = 16 * 1024 * 1024
_READ_BUFFER = 1 << 20
_BOM = b"\xef\xbb\xbf"


def read_lines(path: Path, log: ProblemLog) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text with its line ending)`` for each line of a UTF-8 file.

    Problems (unreadable file, not UTF-8, a line too long) go to ``log`` and end the reading.
    """
    try:
        handle = path.open("rb", buffering=_READ_BUFFER)
    except OSError as error:
        log.add(None, f"cannot read the file ({error.strerror}); check its permissions")
        return
    with handle:
        number = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as error:
                log.add(number + 1, f"cannot read the file ({error.strerror})")
                return
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                log.add(
                    number,
                    f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; is this really"
                    " a text file with one record per line?",
                )
                return
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                log.add(
                    number,
                    f"not UTF-8 (byte {error.start + 1} of the line is {raw[error.start]:#04x});"
                    " save the file as UTF-8",
                )
                return
            yield number, text
