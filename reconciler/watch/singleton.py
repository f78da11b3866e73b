"""One daemon per checkout: a lock on ``<root>/.reconcile/watch.lock`` held for the daemon's
whole life, with ``watch.holder`` next to it saying who holds it.

Two daemons converging the same specs would each apply the other's half-finished work twice
as often and double every request. The operating system releases the lock when its holder
exits, even by SIGKILL, so a crashed daemon never blocks the next one. Each run also takes the
apply lock (``reconciler.lock``), which keeps a hand-run ``reconcile apply`` and the daemon
from applying at the same moment.
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

LOCK_FILE = "watch.lock"
HOLDER_FILE = "watch.holder"


class DaemonLockHeldError(Exception):
    """Another daemon already watches this checkout."""


def _describe_holder(holder_file: Path) -> str:
    try:
        holder = json.loads(holder_file.read_text(encoding="utf-8"))
        return f"process {holder['pid']} on {holder['host']} (started {holder['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def daemon_lock(state_dir: Path) -> Iterator[None]:
    """Hold the daemon lock of the checkout whose state folder is ``state_dir``.

    Raises ``DaemonLockHeldError`` at once, naming the holder, when another daemon has it.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state_dir / LOCK_FILE), timeout=0)
    holder_file = state_dir / HOLDER_FILE
    try:
        lock.acquire()
    except Timeout:
        raise DaemonLockHeldError(
            f"another `reconcile --watch` already runs on this checkout:"
            f" {_describe_holder(holder_file)}; stop it first, or give this daemon a checkout"
            f" of its own (the lock is {state_dir / LOCK_FILE})"
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
