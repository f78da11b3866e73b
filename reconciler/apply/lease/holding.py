"""Holding the writer lease: acquire, renew, write the journal, release; over any store.

``WriterLease`` turns a ``LeaseStore`` (one record behind a compare-and-swap) into a lease:

- **acquire** takes the record when it is free (none yet, released, expired, or held by a
  process on this same host that is no longer alive), carrying the previous journal over
  unchanged; waits up to ``wait`` seconds for a live holder, looking again about every
  ``poll`` seconds (one by default);
- **renewal**, on a daemon thread, pushes ``expires_at = now + ttl`` every ``renew_every``
  seconds, with the journal ``journal_source`` gives at that moment (the last one written
  when there is none); a failed renewal is retried until the expiry comes, and then the lease
  is lost;
- **fencing** is the caller's: before each write it checks ``seconds_left()``, which counts
  down on the monotonic clock from the start of the last write that succeeded (so a slow push
  only makes it more conservative) and is 0 once the lease is lost or released. Another
  machine judges expiry by its own wall clock, so the caller's margin should also cover the
  clock skew between machines;
- **release** writes ``holder = None`` with the journal, best effort: on failure the lease is
  left to expire.

Every write is a compare-and-swap from the version this object wrote last. When one fails
with a conflict, the record is read again: if it is still ours, an earlier write of ours
landed although its answer was lost, and we continue from it; otherwise someone else took
the lease and it is lost (``LeaseLostError``), never silently retaken.

Thread safety: store writes are serialised by ``_write_lock`` (held during I/O); the state
fields are guarded by ``_state_lock``, which is never held during I/O, so ``seconds_left()``
answers at once while a renewal is being pushed.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

from reconciler.apply.lease.record import (
    Holder,
    LeaseError,
    LeaseRecord,
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
from reconciler.redact import redact

DEFAULT_TTL_SECONDS = 120.0
# How often a held lease is read again while waiting for it (the ``poll`` of a WriterLease).
POLL_SECONDS = 1.0
# Consecutive lost races in acquire before it stops retrying at once and waits like any poll.
_QUICK_RETRIES = 3
# A swap that conflicts is retried from the record read back while that record is still ours
# (an earlier write landed, its answer lost); more than this and something else is wrong.
_OWN_WRITE_RETRIES = 3
# Host names that do not identify a machine: two containers may both be "localhost", and a
# dead pid in ours says nothing about a process in theirs.
_ANONYMOUS_HOSTS = frozenset({"", "localhost", "localhost.localdomain", "127.0.0.1", "::1"})

logger = logging.getLogger("reconciler.lease")


def pid_is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (``kill(pid, 0)``); unsure means yes."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        # PermissionError: it exists but belongs to someone else. Anything else: unsure, and
        # a holder wrongly thought dead is the one mistake a lease must not make.
        return True
    return True


def holder_gone_at(
    record: LeaseRecord | None,
    now: float,
    *,
    host: str,
    is_alive: Callable[[int], bool] = pid_is_alive,
) -> float | None:
    """When the holder of ``record`` is known to be gone, as seen from ``host`` at ``now``:
    its lease's expiry once that has passed, ``min(now, expiry)`` for a dead process on this
    same host (not an anonymous one), ``None`` while it may still be at work (or when nobody
    holds the lease)."""
    if record is None or record.holder is None or record.expires_at is None:
        return None
    if is_expired(record, now):
        return record.expires_at
    holder = record.holder
    if holder.host == host and host not in _ANONYMOUS_HOSTS and not is_alive(holder.pid):
        return min(now, record.expires_at)
    return None


@dataclass(frozen=True)
class Acquired:
    """What ``acquire`` found. ``previous`` is the record before ours (its ``journal`` is
    the caller's memory of recent writes). ``previous_holder_gone_at`` bounds from above the
    moment the previous holder could last have written: None when it released normally (or
    there was none), its ``expires_at`` when its lease had expired, and ``min(now,
    expires_at)`` when it was a dead process on this host."""

    previous: LeaseRecord | None
    previous_holder_gone_at: float | None


class WriterLease:
    """The writer lease of one apply, held through ``store`` as ``holder``."""

    def __init__(
        self,
        store: LeaseStore,
        holder: Holder,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        wait: float = 0.0,
        poll: float = POLL_SECONDS,
        renew_every: float | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        is_alive: Callable[[int], bool] = pid_is_alive,
        journal_source: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        renew_every = ttl / 4 if renew_every is None else renew_every
        if ttl <= 0 or wait < 0 or poll <= 0 or not 0 < renew_every < ttl:
            raise ValueError(
                f"a lease needs ttl > 0, wait >= 0, poll > 0 and 0 < renew_every < ttl"
                f" (got ttl={ttl}, wait={wait}, poll={poll}, renew_every={renew_every})"
            )
        self._store = store
        self._holder = holder
        self._ttl = ttl
        self._wait = wait
        self._poll = poll
        self._renew_every = renew_every
        # Retries of a failed renewal come faster than renewals, so that several fit before
        # the expiry.
        self._retry_every = min(renew_every, ttl / 20)
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._is_alive = is_alive
        self._journal_source = journal_source

        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Guarded by _state_lock.
        self._started = False
        self._held = False
        self._released = False
        self._lost_reason: str | None = None
        self._stolen = False
        self._version: str | None = None
        self._journal: Mapping[str, Any] = {}
        self._deadline = 0.0
        self._expires_at = 0.0

    # -- the public surface -------------------------------------------------------------------

    def acquire(self) -> Acquired:
        """Take the lease (waiting up to ``wait`` seconds) and start renewing it.

        Raises ``LeaseHeldError`` when another live holder keeps it, ``LeaseUnavailableError``
        when the store cannot be reached, ``LeaseRecordError`` for an unreadable record, and
        ``LeaseError`` when this holder already holds it (an apply inside an apply).
        """
        with self._state_lock:
            if self._started:
                raise LeaseError("this WriterLease was already used; make a new one per apply")
            self._started = True
        try:
            acquired = self._take()
        except BaseException:
            with self._state_lock:
                self._started = False
            raise
        self._thread = threading.Thread(
            target=self._renew_loop, name="reconcile-lease-renewal", daemon=True
        )
        self._thread.start()
        return acquired

    def seconds_left(self) -> float:
        """Seconds before our lease expires, by the monotonic clock; 0 once lost or released."""
        with self._state_lock:
            if not self._held:
                return 0.0
            return max(0.0, self._deadline - self._monotonic())

    @property
    def lost(self) -> bool:
        """Whether the lease was taken by someone else or expired before it was renewed."""
        with self._state_lock:
            if self._lost_reason is not None:
                return True
            return self._held and self._monotonic() >= self._deadline

    @property
    def journal(self) -> Mapping[str, Any]:
        """The journal last written (or carried over from the previous holder)."""
        with self._state_lock:
            return self._journal

    def write_journal(self, journal: Mapping[str, Any]) -> None:
        """Write ``journal`` into our record, renewing the expiry on the way.

        Raises ``LeaseLostError`` when the lease is no longer ours (then nothing was written),
        ``LeaseUnavailableError`` when the store could not be written (the lease stays held;
        the journal may or may not be there, so nothing may rely on it).
        """
        # A copy: the renewal thread serialises the journal while the caller may be changing
        # its own dict on another thread.
        journal = copy.deepcopy(journal)
        with self._write_lock:
            self._write(journal)

    def release(self, journal: Mapping[str, Any]) -> None:
        """Stop renewing and write ``holder = None`` with ``journal``; best effort.

        A failure is logged and the lease left to expire. A lease that merely expired is still
        released when nobody took it since (the swap says so), so the journal is not lost; a
        lease someone else took is left alone.
        """
        with self._state_lock:
            never_held = not self._held and self._lost_reason is None
            if never_held or self._released:
                return
            self._released = True
        journal = copy.deepcopy(journal)
        self._stop.set()
        with self._write_lock:
            with self._state_lock:
                version, stolen = self._version, self._stolen
                self._held = False
            if not stolen:
                self._write_release(version, journal)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Acquired:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release(self.journal)

    # -- acquiring ----------------------------------------------------------------------------

    def _take(self) -> Acquired:
        deadline = self._monotonic() + self._wait
        told = False
        conflicts = 0
        while True:
            version, record = self._store.read()
            now = self._clock()
            if (
                record is not None
                and record.holder is not None
                and record.holder.id == self._holder.id
            ):
                raise LeaseError(
                    f"the writer lease on {self._store.describe()} is already held by this very"
                    f" holder ({record.holder.describe()}): an apply must not take the lease it"
                    " holds"
                )
            free, gone_at = self._assess(record, now)
            if free:
                mine = LeaseRecord(
                    holder=self._holder,
                    expires_at=now + self._ttl,
                    journal={} if record is None else record.journal,
                )
                started = self._monotonic()
                try:
                    new_version = self._store.swap(version, mine)
                except LeaseConflictError:
                    conflicts += 1
                    if conflicts <= _QUICK_RETRIES:
                        continue
                else:
                    with self._state_lock:
                        self._version = new_version
                        self._journal = mine.journal
                        self._deadline = started + self._ttl
                        self._expires_at = now + self._ttl
                        self._held = True
                    return Acquired(previous=record, previous_holder_gone_at=gone_at)
            else:
                conflicts = 0
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise LeaseHeldError(self._held_message(record, now))
            if not told and record is not None and record.holder is not None:
                told = True
                logger.info(
                    "waiting up to %.0f s for the writer lease held by %s",
                    remaining,
                    record.holder.describe(),
                )
            self._sleep(min(remaining, self._poll * random.uniform(0.75, 1.25)))

    def _assess(self, record: LeaseRecord | None, now: float) -> tuple[bool, float | None]:
        """Whether ``record`` may be taken at ``now``, and when its holder was gone at last."""
        if record is None or record.holder is None or record.expires_at is None:
            return True, None
        gone_at = holder_gone_at(record, now, host=self._holder.host, is_alive=self._is_alive)
        return gone_at is not None, gone_at

    def _held_message(self, record: LeaseRecord | None, now: float) -> str:
        where = self._store.describe()
        if record is None or record.holder is None or record.expires_at is None:
            # Only reached when swaps keep losing races to other writers.
            return (
                f"the writer lease on {where} keeps being taken by other writers; wait for"
                " them to finish and run again"
            )
        expires = format_utc(record.expires_at)
        waited = f" (waited {self._wait:g} s)" if self._wait > 0 else ""
        return (
            f"the writer lease is held by {record.holder.describe()}{waited}; it lives on"
            f" {where} and expires at {expires} (in {max(0.0, record.expires_at - now):.0f} s)"
            " unless its holder renews it. Only one apply writes at a time: wait for that one"
            " to finish, or let this one wait for it by raising `lock_timeout` in"
            " reconciler.yaml or passing `--lock-timeout SECONDS`. If that holder is known to"
            f" be dead, its lease can be taken over after it expires at {expires}."
        )

    # -- writing ------------------------------------------------------------------------------

    def _write(self, journal: Mapping[str, Any]) -> None:
        """CAS our record with a renewed expiry and ``journal``; ``_write_lock`` is held."""
        with self._state_lock:
            if self._lost_reason is not None or self._released or not self._held:
                raise LeaseLostError(self._lost_message())
            expired = self._monotonic() >= self._deadline
            version, expired_at = self._version, self._expires_at
        if expired:
            self._lose(f"it expired at {format_utc(expired_at)} before it could be renewed")
        expires_at = self._clock() + self._ttl
        record = LeaseRecord(holder=self._holder, expires_at=expires_at, journal=journal)
        started = self._monotonic()
        new_version = self._swap_ours(version, record)
        with self._state_lock:
            if self._held:
                self._version = new_version
                self._journal = journal
                self._deadline = started + self._ttl
                self._expires_at = expires_at

    def _write_release(self, version: str | None, journal: Mapping[str, Any]) -> None:
        where = self._store.describe()
        try:
            new_version = self._swap_ours(
                version, LeaseRecord(holder=None, expires_at=None, journal=journal)
            )
        except LeaseLostError:
            logger.warning("the writer lease on %s was taken over before it was released", where)
            return
        except LeaseError as error:
            logger.warning(
                "could not release the writer lease on %s (%s); it will expire on its own",
                where,
                redact(str(error)),
            )
            return
        with self._state_lock:
            self._version = new_version
            self._journal = journal

    def _swap_ours(self, version: str | None, record: LeaseRecord) -> str:
        for _attempt in range(_OWN_WRITE_RETRIES):
            try:
                return self._store.swap(version, record)
            except LeaseConflictError:
                pass
            current_version, current = self._store.read()
            if current is None or current.holder is None:
                self._lose("someone else released or removed it", stolen=True)
            if current.holder.id != self._holder.id:
                self._lose(f"it was taken over by {current.holder.describe()}", stolen=True)
            # Still ours: an earlier write of ours landed although its answer was lost.
            version = current_version
        raise LeaseUnavailableError(
            f"the writer lease on {self._store.describe()} kept changing under this apply's own"
            " writes; try again"
        )

    def _lose(self, reason: str, *, stolen: bool = False) -> NoReturn:
        """Mark the lease lost (the first reason stays), log it, raise ``LeaseLostError``."""
        with self._state_lock:
            first = self._lost_reason is None
            if first:
                self._lost_reason = reason
                self._stolen = stolen
                self._held = False
            message = self._lost_message()
        if first:
            # Logged outside the state lock: seconds_left() must never wait for a log handler.
            logger.error("lost the writer lease on %s: %s", self._store.describe(), redact(reason))
        raise LeaseLostError(message)

    def _lost_message(self) -> str:
        reason = self._lost_reason or ("it was released" if self._released else "it is not held")
        where = self._store.describe()
        return f"the writer lease on {where} is no longer held by this apply: {reason}"

    # -- renewing -----------------------------------------------------------------------------

    def _renew_loop(self) -> None:
        delay = self._renew_every
        while not self._stop.wait(delay):
            outcome = self._renew_once()
            if outcome is None:
                return
            delay = self._renew_every if outcome else self._retry_every

    def _renew_once(self) -> bool | None:
        """One renewal: True when done, False to retry soon, None when renewal is over."""
        with self._write_lock:
            if self._stop.is_set():
                return None
            try:
                source = self._journal_source
                self._write(copy.deepcopy(source()) if source is not None else self.journal)
            except LeaseLostError:
                return None
            except LeaseError as error:
                logger.warning(
                    "could not renew the writer lease on %s (%s); retrying, %.0f s left",
                    self._store.describe(),
                    redact(str(error)),
                    self.seconds_left(),
                )
                return False
            except Exception as error:
                # Anything else too: a renewal thread that died would lose the lease silently.
                logger.warning(
                    "could not renew the writer lease on %s (%s: %s); retrying",
                    self._store.describe(),
                    type(error).__name__,
                    redact(str(error)),
                )
                return False
        return True
