"""The journal of recent writes: the creates this repository sent within its settle window.

A provider's list may lag behind a create, so a job created a minute ago can be missing from
the list a plan reads; a plan that took its absence at face value would pay for it twice. The
journal remembers every create (and replace) an apply sent until its settle window has passed,
with what became of it: ``confirmed`` (the provider answered with the job's id), ``unknown``
(the answer was lost), or ``intended`` (a run was about to send it and may have stopped before
or after). It lives with the writer lease (``reconciler.apply.lease``), on the repository's git
remote, so every machine that applies sees it; the diff holds back a create while an earlier
one of the same job is unsettled (``reconciler.diff.decide.pending_write``).

``WriteJournal`` is the journal while an apply runs: the executor tells it, from several
threads, when a create is about to be sent, was answered, or lost its answer, and the run
writes ``to_json()`` with every renewal of the lease and when it ends. ``writes_from_json``
reads a journal back. Nothing here does I/O.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.core.action import Action
from reconciler.core.observed import RecentWrite, WriteState
from reconciler.core.plan import Change
from reconciler.core.spec import PROVIDERS

JOURNAL_FORMAT = 1
# A journal larger than this is refused: it is read from a remote that anyone with push access
# can write. It holds only the creates of the last settle window; at about 250 bytes each,
# 20,000 of them keep the lease record well under its 8 MiB cap.
MAX_WRITES = 20_000


class JournalError(ValueError):
    """A journal that cannot be read: nothing may be written until someone looks at it."""


def writes_to_json(writes: Iterable[RecentWrite]) -> dict[str, Any]:
    """The journal's JSON form, kept in the lease record under ``"recent_writes"``."""
    return {
        "format": JOURNAL_FORMAT,
        "writes": [
            {
                "provider": write.provider,
                "name": write.name,
                "action": write.action.value,
                "state": write.state.value,
                "sent_at": write.sent_at,
                "remote_id": write.remote_id,
                "known_ids": list(write.known_ids),
                "by": write.by,
            }
            for write in writes
        ],
    }


def writes_from_json(data: Any, *, intended_until: float) -> tuple[RecentWrite, ...]:
    """The writes of a journal read back. An intended write's ``sent_at`` becomes
    ``intended_until``: the latest moment its run could have sent it (when its lease
    expired, or when that run was found gone). ``JournalError`` for anything malformed."""
    if data is None:
        return ()
    if not isinstance(data, Mapping) or data.get("format") != JOURNAL_FORMAT:
        raise JournalError(f"the journal is not of format {JOURNAL_FORMAT}")
    entries = data.get("writes")
    if not isinstance(entries, list) or len(entries) > MAX_WRITES:
        raise JournalError("the journal's writes are not a list of at most 20,000 entries")
    try:
        writes = tuple(_write_from_json(entry) for entry in entries)
    except (KeyError, TypeError, ValueError) as error:
        raise JournalError(f"a journal entry is malformed ({error})") from None
    return tuple(
        replace(write, sent_at=intended_until) if write.state is WriteState.INTENDED else write
        for write in writes
    )


def _write_from_json(entry: Any) -> RecentWrite:
    if not isinstance(entry, Mapping):
        raise TypeError("an entry is not an object")
    provider = entry["provider"]
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}")
    action = Action(entry["action"])
    if action not in (Action.CREATE, Action.REPLACE):
        raise ValueError(f"{action.value} is not a write the journal keeps")
    sent_at = entry["sent_at"]
    if isinstance(sent_at, bool) or not isinstance(sent_at, int | float):
        raise TypeError("sent_at is not a number")
    if not math.isfinite(sent_at):
        raise ValueError("sent_at is not finite")
    remote_id = entry["remote_id"]
    known = entry["known_ids"]
    if not isinstance(known, list):
        raise TypeError("known_ids is not a list")
    return RecentWrite(
        provider=provider,
        name=_text(entry["name"]),
        action=action,
        state=WriteState(entry["state"]),
        sent_at=float(sent_at),
        remote_id=None if remote_id is None else _text(remote_id),
        known_ids=tuple(_text(item) for item in known),
        by=_text(entry["by"]),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise TypeError("a text field is not a string of at most 1,000 characters")
    return value


def unsettled(writes: Iterable[RecentWrite], now: float, window: float) -> list[RecentWrite]:
    """The writes a list begun ``now`` could still miss: sent less than ``window`` ago."""
    return [write for write in writes if write.sent_at + window > now]


class WriteJournal:
    """The journal while an apply runs, safe to update from the executor's threads.

    It starts from the previous applies' writes still within their window; ``intend`` adds
    this run's creates before the first is sent (so a run that dies leaves them behind as
    intended), ``sending`` marks one as sent (from then on, its outcome is unknown until it is
    ``confirmed``), ``unknown`` keeps it unknown, and ``not_sent`` drops an intent that never
    went out (its upload failed, the lease was lost). ``to_json`` is what the lease records.
    """

    def __init__(
        self,
        previous: Iterable[RecentWrite],
        *,
        by: str,
        window: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._by = by
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._writes: dict[tuple[str, str], RecentWrite] = {}
        for write in previous:
            self._put(write)

    def _put(self, write: RecentWrite) -> None:
        key = (write.provider, write.name)
        known = self._writes.get(key)
        if known is None or write.sent_at >= known.sent_at:
            self._writes[key] = write

    def intend(self, changes: Iterable[Change]) -> None:
        """Record this run's creates and replaces as about to be sent."""
        now = self._clock()
        with self._lock:
            for change in changes:
                self._writes[(change.provider, change.name)] = self._of(
                    change, WriteState.INTENDED, now
                )

    def sending(self, change: Change) -> float:
        """Mark ``change`` as sent now (its outcome unknown until confirmed); returns when."""
        now = self._clock()
        with self._lock:
            self._writes[(change.provider, change.name)] = self._of(change, WriteState.UNKNOWN, now)
        return now

    def _of(self, change: Change, state: WriteState, now: float) -> RecentWrite:
        current = (change.current.remote_id,) if change.current is not None else ()
        return RecentWrite(
            provider=change.provider,
            name=change.name,
            action=change.action,
            state=state,
            sent_at=now,
            known_ids=(*change.history, *current),
            by=self._by,
        )

    def confirmed(self, change: Change, remote_id: str) -> None:
        """The provider answered ``change``'s create with ``remote_id`` (or a fresh list
        showed it)."""
        self._update(change, state=WriteState.CONFIRMED, remote_id=remote_id)

    def unknown(self, change: Change) -> None:
        """``change``'s create went out and its outcome could not be settled in this run."""
        self._update(change, state=WriteState.UNKNOWN)

    def not_sent(self, change: Change) -> None:
        """``change`` was never sent: forget the intent (and only an intent)."""
        with self._lock:
            key = (change.provider, change.name)
            known = self._writes.get(key)
            if known is not None and known.state is WriteState.INTENDED and known.by == self._by:
                del self._writes[key]

    def refused(self, change: Change, sent_at: float) -> None:
        """``change``'s create sent at ``sent_at`` was refused (a 4xx): nothing was made by it,
        so the write it recorded is forgotten. Only that write: one of another run, or of an
        earlier send whose answer was lost, stays."""
        with self._lock:
            key = (change.provider, change.name)
            known = self._writes.get(key)
            if (
                known is not None
                and known.by == self._by
                and known.sent_at == sent_at
                and known.state is WriteState.UNKNOWN
            ):
                del self._writes[key]

    def _update(self, change: Change, **fields: Any) -> None:
        with self._lock:
            key = (change.provider, change.name)
            known = self._writes.get(key)
            if known is not None:
                self._writes[key] = replace(known, **fields)

    def writes(self) -> tuple[RecentWrite, ...]:
        """Every write still within its window, oldest first."""
        now = self._clock()
        with self._lock:
            kept = [
                write
                for write in self._writes.values()
                if write.state is WriteState.INTENDED or write.sent_at + self._window > now
            ]
        return tuple(sorted(kept, key=lambda write: (write.sent_at, write.provider, write.name)))

    def to_json(self) -> dict[str, Any]:
        return writes_to_json(self.writes())
