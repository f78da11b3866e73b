"""The writer: what guards an apply's writes (its hold on the writer lease) and the journal of
recent writes the lease carries.

Every apply (the command line, CI, the daemon) writes only while it holds the repository's
writer lease (``reconciler.apply.lease``: a compare-and-swap ref on the git remote, or a file under
``.reconcile/`` without one), so two machines never write at once. The lease also carries the
journal of recent writes (``reconciler.apply.journal``), which this module reads and writes:

- ``read_recent_writes`` reads the journal without taking the lease, for a plan that only
  shows what would happen (a create another apply sent a minute ago is not planned again);
- ``hold_writer`` takes the lease (waiting up to ``lock_timeout``), reads the journal the
  previous holder left, and yields a ``Writer``: the ``WriteGuard`` the apply executor asks
  before each write, whose journal is pushed with every renewal of the lease and when it is
  released. A write is never sent when the lease is lost or expires within
  ``FENCING_MARGIN_SECONDS``: another machine may judge the expiry by a clock that runs ahead.

``WriteGuard`` is the seam the apply executor sees; ``LocalGuard`` is the guard of an
executor used without a lease (unit tests, library use).

``--sandbox`` runs keep their lease in the local file: the emulator's state is local too, and a
demonstration must never push to the repository's real remote.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from reconciler.apply.journal import JournalError, WriteJournal, writes_from_json
from reconciler.apply.lease import (
    DEFAULT_REF,
    Holder,
    LeaseError,
    LeaseRecord,
    LeaseStore,
    LocalFileStore,
    WriterLease,
    holder_gone_at,
    open_store,
)
from reconciler.config import DEFAULT_SETTLE_WINDOW, Settings
from reconciler.core.observed import RecentWrite

# The lease lives this long without a renewal, and is renewed every RENEW_SECONDS. A writer
# that dies without releasing it blocks other machines for at most this long.
LEASE_TTL_SECONDS = 180.0
RENEW_SECONDS = 30.0
# No write is sent once the lease has less than this left: it covers a request on its way out
# and a minute of clock difference between this machine and the one that may take over.
FENCING_MARGIN_SECONDS = 60.0
JOURNAL_KEY = "recent_writes"


class WriteGuard(Protocol):
    """What stands between the executor and a write: the run's writer lease.

    ``journal`` holds this run's creates; ``checkpoint()`` records it where every machine
    sees it (raises ``WritesStoppedError`` when it cannot, and then nothing is sent);
    ``stopped()`` says why no write may go out any more (the lease was lost, or expires too
    soon for a request to finish), or ``None``.
    """

    journal: WriteJournal

    def checkpoint(self) -> None: ...

    def stopped(self) -> str | None: ...


class WritesStoppedError(Exception):
    """The writer lease can no longer vouch for a write: nothing more is sent."""


class LocalGuard:
    """The guard of an executor with no lease (unit tests, library use): a journal kept in
    memory, and writes never stopped."""

    def __init__(self, window: float = DEFAULT_SETTLE_WINDOW) -> None:
        self.journal = WriteJournal((), by="this run", window=window)

    def checkpoint(self) -> None:
        return None

    def stopped(self) -> str | None:
        return None


class WriterUnavailableError(Exception):
    """The writer lease could not be taken (held elsewhere, no push access, unreadable): the
    message says who holds it or what is wrong, and what to do. Nothing was written."""


def lease_store(settings: Settings, state_dir: Path, *, local: bool = False) -> LeaseStore:
    """Where the writer lease of the repository at ``settings.root`` lives (``local``: the
    file under ``state_dir``, whatever the git remotes)."""
    if local:
        return LocalFileStore(state_dir)
    return open_store(settings.root, state_dir, settings.lease_remote, DEFAULT_REF)


def recent_writes_of(record: LeaseRecord | None, gone_at: float | None) -> tuple[RecentWrite, ...]:
    """The journal a lease record carries. A write its holder only intended is taken as sent
    at the latest moment that holder could have sent it: ``gone_at`` when it is known to be
    gone, else the record's expiry (its holder may still be at work), else now."""
    if record is None:
        return ()
    bound = gone_at if gone_at is not None else record.expires_at
    return writes_from_json(record.journal.get(JOURNAL_KEY), intended_until=bound or time.time())


def read_recent_writes(store: LeaseStore) -> tuple[RecentWrite, ...]:
    """The journal of recent writes, read without taking the lease (a holder that died on this
    host is known gone; one elsewhere counts as at work until its lease expires). Raises
    ``LeaseError`` or ``JournalError`` when it cannot be read."""
    _, record = store.read()
    gone_at = holder_gone_at(record, time.time(), host=Holder.current("reconcile").host)
    return recent_writes_of(record, gone_at)


class Writer:
    """An apply's hold on the lease: the ``WriteGuard`` of ``reconciler.apply.executor``."""

    def __init__(self, lease: WriterLease, journal: WriteJournal, where: str) -> None:
        self.journal = journal
        self._lease = lease
        self._where = where

    def checkpoint(self) -> None:
        """Push the journal now, so that every other machine sees this run's intents."""
        try:
            self._lease.write_journal({JOURNAL_KEY: self.journal.to_json()})
        except LeaseError as error:
            raise WritesStoppedError(
                f"the journal of this apply's creates could not be recorded on {self._where}"
                f" ({error}); nothing was sent"
            ) from None

    def stopped(self) -> str | None:
        if self._lease.lost:
            return f"this apply no longer holds the writer lease on {self._where}"
        left = self._lease.seconds_left()
        if left < FENCING_MARGIN_SECONDS:
            return (
                f"the writer lease on {self._where} could not be renewed and expires in"
                f" {left:.0f} s; run again"
            )
        return None


@contextlib.contextmanager
def hold_writer(
    settings: Settings,
    state_dir: Path,
    *,
    wait: float,
    local: bool = False,
    command: str | None = None,
) -> Iterator[Writer]:
    """Hold the writer lease for the ``with`` block (see the module docstring). Raises
    ``WriterUnavailableError`` when it cannot be taken."""
    store = lease_store(settings, state_dir, local=local)
    holder = Holder.current(command or " ".join(["reconcile", *sys.argv[1:]]))
    journal: WriteJournal | None = None
    lease = WriterLease(
        store,
        holder,
        ttl=LEASE_TTL_SECONDS,
        renew_every=RENEW_SECONDS,
        wait=wait,
        poll=settings.lock_poll,
        journal_source=lambda: {} if journal is None else {JOURNAL_KEY: journal.to_json()},
    )
    try:
        acquired = lease.acquire()
    except LeaseError as error:
        raise WriterUnavailableError(f"nothing was written: {error}") from None
    try:
        previous = recent_writes_of(acquired.previous, acquired.previous_holder_gone_at)
    except JournalError as error:
        lease.release(lease.journal)
        raise WriterUnavailableError(
            f"nothing was written: the journal of recent writes on {store.describe()} is"
            f" unreadable ({error}); while it is, nobody can tell which creates may still be"
            " on their way. Look at it (`git show <remote>/refs/reconcile/lease`); once no"
            " apply has run for a settle window, delete the ref"
            " (`git push <remote> :refs/reconcile/lease`) to start afresh"
        ) from None
    journal = WriteJournal(previous, by=holder.describe(), window=settings.settle_window)
    try:
        yield Writer(lease, journal, store.describe())
    finally:
        lease.release({JOURNAL_KEY: journal.to_json()})
