"""Checkout locks: one daemon per checkout, and who holds the lock.

A ``filelock`` lock on ``<root>/.reconcile/<name>.lock``. The operating system releases it when
the holder exits, even by SIGKILL, so a crashed daemon never leaves the checkout locked. Next
to it, ``<name>.holder`` says who took it (process id, host, command, time), so a second
process can say whom it is waiting for; that file is only informative and may be stale after a
crash. The daemon holds one (``reconciler.watch.singleton``). Writes are guarded by the writer
lease (``reconciler.apply.lease``), which every machine sees, not by a lock of one checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path


def describe_holder(holder_file: Path) -> str:
    """Who holds a lock, as its holder file says, for a message to the one who waits."""
    try:
        holder = json.loads(holder_file.read_text(encoding="utf-8"))
        return (
            f"process {holder['pid']} on {holder['host']} (`{holder['command']}`, started"
            f" {holder['started']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def checkout_lock(
    state_dir: Path, name: str, busy: Callable[[str, Path], Exception]
) -> Iterator[None]:
    """Hold ``<state_dir>/<name>.lock`` without waiting.

    When another process has it, raises ``busy(holder description, lock path)``.
    """
    # Imported here: a dry run takes no lock and need not load filelock.
    from filelock import FileLock, Timeout

    state_dir.mkdir(parents=True, exist_ok=True)
    lock_path = state_dir / f"{name}.lock"
    holder_file = state_dir / f"{name}.holder"
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise busy(describe_holder(holder_file), lock_path) from None
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
