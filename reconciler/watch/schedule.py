"""When the next resync is due: the interval with jitter, a faster pace while jobs train, a
growing backoff after failed runs that resets on the first success, and the least spacing
between runs that webhooks ask for."""

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
# Runs asked for by webhooks start at least this far apart: deliveries arriving during a run
# or within this spacing of the last one become one run, so a burst (a provider's retries, a
# replayed capture, 200 deliveries in 2 s) costs a few runs, not one per delivery.
DEFAULT_WEBHOOK_SPACING = 2.0


@dataclass(frozen=True)
class ResyncSchedule:
    """The delays of one daemon. ``max_backoff`` caps the wait after repeated failures;
    ``webhook_spacing`` is the least time between the starts of two runs webhooks asked for."""

    interval: float
    max_backoff: float
    webhook_spacing: float = DEFAULT_WEBHOOK_SPACING

    def webhook_wait(self, last_webhook_run: float | None, now: float) -> float:
        """Seconds a run asked for only by webhooks must still wait, given when the last such
        run started (monotonic seconds, None: never)."""
        if last_webhook_run is None:
            return 0.0
        return max(0.0, last_webhook_run + self.webhook_spacing - now)

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
