"""When the next resync is due: the interval with jitter, a faster pace while jobs train, and a
growing backoff after failed runs that resets on the first success."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Spreads daemons started together (a fleet, a redeploy) so they do not poll in lockstep.
JITTER_FRACTION = 0.1
# While a job trains, poll this many times per interval, but never faster than every
# FAST_POLL_FLOOR seconds (or the interval itself, when that is shorter).
FAST_POLL_DIVISOR = 4.0
FAST_POLL_FLOOR = 5.0
# The first retry after a failure comes after this (or the interval, when shorter), then
# doubles up to the cap.
BACKOFF_BASE = 5.0


@dataclass(frozen=True)
class ResyncSchedule:
    """The delays of one daemon. ``max_backoff`` caps the wait after repeated failures."""

    interval: float
    max_backoff: float

    def fast_interval(self) -> float:
        return max(self.interval / FAST_POLL_DIVISOR, min(self.interval, FAST_POLL_FLOOR))

    def backoff(self, consecutive_failures: int) -> float:
        first = min(self.interval, BACKOFF_BASE)
        exponent = min(max(consecutive_failures - 1, 0), 30)  # 2**30 already exceeds any cap
        return min(first * 2.0**exponent, max(self.max_backoff, first))

    def next_delay(
        self, *, consecutive_failures: int, jobs_in_progress: bool, rng: random.Random
    ) -> float:
        """Seconds until the next resync after a run."""
        if consecutive_failures > 0:
            delay = self.backoff(consecutive_failures)
        elif jobs_in_progress:
            delay = self.fast_interval()
        else:
            delay = self.interval
        return delay * (1.0 + rng.uniform(-JITTER_FRACTION, JITTER_FRACTION))
