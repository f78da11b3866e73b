"""Reading an input file's bytes safely: bounded in size, UTF-8 only, with the stat of the bytes.

This module owns the step before YAML: the file's size is checked before it is read, the read
stops one byte past the limit, and the text must be UTF-8. ``read_source`` also says whether
the file held still while it was read (its stat before and after), so that a cache keyed on
that stat never remembers bytes the file no longer holds. It imports no YAML library, so a
run that finds every spec in the cache never loads one. Problems become ``Diagnostic`` values.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.diagnostics import Diagnostic

# A spec is a few dozen lines; 1 MiB is far beyond any honest one and keeps a mistaken
# `reconcile validate /` or a generated monster from being read into memory.
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SourceBytes:
    """A file's bytes, the stat of the file once they were read, and whether it changed
    while being read (``steady``); ``read_started_ns`` is when the reading began."""

    data: bytes
    stat: os.stat_result
    steady: bool
    read_started_ns: int


def read_source(path: Path, display: str) -> tuple[SourceBytes | None, list[Diagnostic]]:
    """The bytes of ``path`` (at most ``MAX_FILE_BYTES``), or why they cannot be used."""
    started = time.time_ns()
    try:
        with path.open("rb") as stream:
            before = os.fstat(stream.fileno())
            if before.st_size > MAX_FILE_BYTES:
                return None, [_too_big(display, before.st_size)]
            # Read one byte past the limit: the file may have grown since fstat().
            data = stream.read(MAX_FILE_BYTES + 1)
            after = os.fstat(stream.fileno())
    except OSError as error:
        return None, [Diagnostic(display, 1, 1, "", f"cannot read the file: {error.strerror}")]
    if len(data) > MAX_FILE_BYTES:
        return None, [_too_big(display, len(data))]
    return SourceBytes(data, after, same_stat(before, after), started), []


def same_stat(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether two stats of one file show the same content (size, times, inode)."""
    return (before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino) == (
        after.st_size,
        after.st_mtime_ns,
        after.st_ctime_ns,
        after.st_ino,
    )


def decode_text(
    data: bytes, display: str, *, allow_empty: bool
) -> tuple[str | None, list[Diagnostic]]:
    """``data`` as text: UTF-8 (a BOM is allowed), and not blank unless ``allow_empty``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [
            Diagnostic(display, 1, 1, "", "the file is UTF-16; save it as UTF-8 (no BOM needed)")
        ]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        line_start = data.rfind(b"\n", 0, error.start) + 1
        col = len(data[line_start : error.start].decode("utf-8", errors="replace")) + 1
        bad = data[error.start : error.start + 1].hex()
        return None, [
            Diagnostic(
                display,
                line,
                col,
                "",
                f"not UTF-8 text (byte 0x{bad} cannot be decoded); save the file as UTF-8",
            )
        ]
    if not text.strip():
        if allow_empty:
            return None, []
        return None, [
            Diagnostic(
                display,
                1,
                1,
                "",
                "the file is empty; a spec file holds one or more `kind: FineTune` documents"
                " (delete the file if it is not needed)",
            )
        ]
    return text, []


def _too_big(display: str, size: int) -> Diagnostic:
    return Diagnostic(
        display,
        1,
        1,
        "",
        f"the file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a spec file;"
        " keep data in dataset files and split large specs into several files",
    )
