"""The writer lease: one writer at a time across every machine that applies this repository.

Principle 7 of the design: two writers never act at once, even on different machines. Before
its first write, every apply (CLI, CI, daemon) takes this lease and keeps renewing it; it
checks ``WriterLease.seconds_left()`` before each write. This package owns the lease record
and its format (``record``), where it lives (``store``: the ``LeaseStore`` seam and the error
tree; ``git``: a ref on the repository's git remote, updated by compare-and-swap push;
``local``: a file under ``.reconcile/`` when there is no remote) and how it is held
(``holding``: acquire, renew, journal, release). The lease also carries an opaque JSON
journal from one holder to the next, in which the caller remembers its recent writes.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.apply.lease.git import DEFAULT_REF, GitRefStore, find_lease_remote
from reconciler.apply.lease.holding import Acquired, WriterLease, holder_gone_at, pid_is_alive
from reconciler.apply.lease.local import LocalFileStore
from reconciler.apply.lease.record import (
    Holder,
    LeaseError,
    LeaseRecord,
    LeaseRecordError,
    format_utc,
    is_expired,
)
from reconciler.apply.lease.store import (
    LeaseConflictError,
    LeaseHeldError,
    LeaseLostError,
    LeaseStore,
    LeaseUnavailableError,
)

__all__ = [
    "DEFAULT_REF",
    "Acquired",
    "GitRefStore",
    "Holder",
    "LeaseConflictError",
    "LeaseError",
    "LeaseHeldError",
    "LeaseLostError",
    "LeaseRecord",
    "LeaseRecordError",
    "LeaseStore",
    "LeaseUnavailableError",
    "LocalFileStore",
    "WriterLease",
    "find_lease_remote",
    "format_utc",
    "holder_gone_at",
    "is_expired",
    "open_store",
    "pid_is_alive",
]


def open_store(
    root: Path, state_dir: Path, remote_setting: str | None, ref: str = DEFAULT_REF
) -> LeaseStore:
    """The lease store of the checkout at ``root``: a ``GitRefStore`` on the remote that
    ``find_lease_remote`` picks (``remote_setting`` "none" picks none), else a
    ``LocalFileStore`` in ``state_dir``. Raises ``ValueError`` for a ``ref`` outside
    ``refs/reconcile/``."""
    remote = find_lease_remote(root, remote_setting)
    if remote is None:
        return LocalFileStore(state_dir)
    return GitRefStore(root, remote, ref)
