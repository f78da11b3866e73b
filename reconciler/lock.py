"""The apply lock: one apply at a time per checkout, and who holds it.

A ``filelock`` lock on ``<root>/.reconcile/apply.lock``. The operating system releases it when
the holder exits, even by SIGKILL, so a crashed apply never leaves the checkout locked. Next to
it, ``apply.holder`` says who took it (process id, host, command, time), so a second apply can
say whom it is waiting for; that file is only informative and may be stale after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_FILE = "apply.lock"
HOLDER_FILE = "apply.holder"


class LockHeldError(Exception):
    """Another apply holds the lock of this checkout."""


def _describe_holder(holder_file: Path) -> str:
    try:
        holder = json.loads(holder_file.read_text(encoding="utf-8"))
        return (
            f"process {holder['pid']} on {holder['host']} (`{holder['command']}`, started"
            f" {holder['started']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def apply_lock(state_dir: Path) -> Iterator[None]:
    """Hold the apply lock of the checkout whose state folder is ``state_dir``.

    Raises ``LockHeldError`` at once, naming the holder, when another apply has it.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state_dir / LOCK_FILE), timeout=0)
    holder_file = state_dir / HOLDER_FILE
    try:
        lock.acquire()
    except Timeout:
        raise LockHeldError(
            f"another apply is running on this checkout: {_describe_holder(holder_file)};"
            f" wait for it to finish (the lock is {state_dir / LOCK_FILE})"
        ) from None
    try:
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(["reconcile", *sys.argv[1:]]),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with contextlib.suppress(OSError):
            holder_file.write_text(json.dumps(holder), encoding="utf-8")
        yield
    finally:
        with contextlib.suppress(OSError):
            holder_file.unlink()
        lock.release()
