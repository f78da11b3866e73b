"""One daemon per checkout: a lock on ``<root>/.reconcile/watch.lock`` held for the daemon's
whole life, with ``watch.holder`` next to it saying who holds it.

Two daemons converging the same specs would each apply the other's half-finished work twice
as often and double every request. The operating system releases the lock when its holder
exits, even by SIGKILL, so a crashed daemon never blocks the next one (``lock``). A run that
writes also takes the writer lease (``reconciler.apply.writer``), which keeps a hand-run
``reconcile apply``, CI and the daemon from applying at the same moment.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from reconciler.watch.lock import checkout_lock

DAEMON_LOCK = "watch"


class DaemonLockHeldError(Exception):
    """Another daemon already watches this checkout."""


def _daemon_busy(holder: str, lock_path: Path) -> DaemonLockHeldError:
    return DaemonLockHeldError(
        f"another `reconcile --watch` already runs on this checkout: {holder}; stop it first,"
        f" or give this daemon a checkout of its own (the lock is {lock_path})"
    )


def daemon_lock(state_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the daemon lock of the checkout whose state folder is ``state_dir``.

    Raises ``DaemonLockHeldError`` at once, naming the holder, when another daemon has it.
    """
    return checkout_lock(state_dir, DAEMON_LOCK, _daemon_busy)
