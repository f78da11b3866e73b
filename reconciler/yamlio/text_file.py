"""Reading an input file's bytes safely: bounded in size, UTF-8 only, with the stat of the bytes.

This module owns the step before YAML: only a regular file is opened (a FIFO or a device is
refused by name, never waited on), the file's size is checked before it is read, the read
stops one byte past the limit, and the text must be UTF-8. ``read_source`` also says whether
the file held still while it was read (its stat before and after), so that a cache keyed on
that stat never remembers bytes the file no longer holds. It imports no YAML library, so a
run that finds every spec in the cache never loads one. Problems become ``Diagnostic`` values.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.diagnostics import Diagnostic

# A spec is a few dozen lines; 1 MiB is far beyond any honest one and keeps a mistaken
# `reconcile validate /` or a generated monster from being read into memory.
MAX_FILE_BYTES = 1024 * 1024
# O_NONBLOCK: opening a FIFO for reading waits for a writer; with it, the open returns at once
# (and fstat shows what was opened). It changes nothing for a regular file.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


@dataclass(frozen=True)
class SourceBytes:
    """A file's bytes, the stat of the file once they were read, and whether it changed
    while being read (``steady``); ``read_started_ns`` is when the reading began."""

    data: bytes
    stat: os.stat_result
    steady: bool
    read_started_ns: int


def read_source(path: Path, display: str) -> tuple[SourceBytes | None, list[Diagnostic]]:
    """The bytes of ``path`` (at most ``MAX_FILE_BYTES``), or why they cannot be used.

    Only a regular file is read: a FIFO would block the run for ever, a device may never end
    or act on being opened. It is refused by its stat before it is opened, and opened without
    blocking (in case it was swapped in between) and checked again."""
    started = time.time_ns()
    try:
        before = os.stat(path)  # noqa: PTH116 (the mode before any open)
        if not stat.S_ISREG(before.st_mode):
            return None, [not_a_regular_file(display, before.st_mode)]
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        return None, [_cannot_read(display, error)]
    with os.fdopen(descriptor, "rb") as stream:
        try:
            before = os.fstat(descriptor)
            if not stat.S_ISREG(before.st_mode):
                return None, [not_a_regular_file(display, before.st_mode)]
            if before.st_size > MAX_FILE_BYTES:
                return None, [_too_big(display, before.st_size)]
            # Read one byte past the limit: the file may have grown since fstat().
            data = stream.read(MAX_FILE_BYTES + 1)
            after = os.fstat(descriptor)
        except OSError as error:
            return None, [_cannot_read(display, error)]
    if len(data) > MAX_FILE_BYTES:
        return None, [_too_big(display, len(data))]
    return SourceBytes(data, after, same_stat(before, after), started), []


def not_a_regular_file(display: str, mode: int) -> Diagnostic:
    """The problem of a path that names something other than a regular file or folder."""
    return Diagnostic(
        display,
        1,
        1,
        "",
        f"is {special_kind(mode)}, not a regular file; reconcile reads only regular files",
    )


def special_kind(mode: int) -> str:
    """What a file of ``mode`` is, for a message: ``a FIFO (named pipe)``, ``a socket``..."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def _cannot_read(display: str, error: OSError) -> Diagnostic:
    return Diagnostic(display, 1, 1, "", f"cannot read the file: {error.strerror}")


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
