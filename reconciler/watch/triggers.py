"""The one queue of triggers feeding the daemon's single worker.

File events, commits, the resync timer and the webhook all ``put`` here; the worker ``take``s every
pending trigger at once. Triggers that arrive while a run is in progress therefore coalesce
into exactly one next run, and the queue never holds more than one entry per source, so it
cannot grow however fast triggers arrive. It counts the puts each source made, so a run can
say how many (webhook deliveries, say) it answers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from enum import StrEnum


class Trigger(StrEnum):
    """Why a run happens (also the ``source`` label of the triggers metric)."""

    START = "start"
    FILE = "file"  # files saved, applied after the quiet period (no git, or --worktree)
    COMMIT = "commit"  # HEAD moved in a git checkout: apply the new commit
    PREVIEW = "preview"  # files saved in a git checkout: plan them, apply nothing
    TIMER = "timer"
    WEBHOOK = "webhook"


class TriggerQueue:
    """A set of pending triggers with a blocking, stoppable ``take``."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: set[Trigger] = set()
        self._closed = False
        self._puts: Counter[Trigger] = Counter()
        self._taken: Counter[Trigger] = Counter()

    def put(self, trigger: Trigger) -> None:
        with self._condition:
            self._pending.add(trigger)
            self._puts[trigger] += 1
            self._condition.notify_all()

    def close(self) -> None:
        """Wake the worker for good: ``take`` returns at once from now on."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def take(self, timeout: float) -> frozenset[Trigger]:
        """Every pending trigger, waiting up to ``timeout`` seconds for the first one.

        Returns an empty set when the time ran out (the caller's timer is due) or the queue
        was closed.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._condition:
            while not self._pending and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            taken = frozenset(self._pending)
            self._pending.clear()
            self._taken = self._puts.copy()
            return taken

    def taken(self, trigger: Trigger) -> int:
        """How many puts of ``trigger`` the takes so far have returned. Counted under the same
        lock as ``take``: every put counted here is in the set that take (or an earlier one)
        returned, none is still pending."""
        with self._condition:
            return self._taken[trigger]
