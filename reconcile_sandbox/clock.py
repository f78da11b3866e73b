"""The sandbox's simulated clock.

Two readings come from one clock:

- ``now()``: simulated time, in seconds since the epoch. It runs at ``speed`` times real time
  and jumps forward on explicit advances. Job progress and the timestamps the emulated APIs
  show are measured on it, so a demo at speed 60 trains a job in seconds.
- ``wall_now()``: real time plus the explicit advances only (never scaled by speed). Pre-signed
  URL expiry is measured on it: an upload at speed 60 must not expire sixty times too soon, yet
  a test that advances the clock by an hour must see its URL expire.

The anchors are persisted through a ``ClockState`` store so the clock carries on after a
restart (time passes while the sandbox is down, as it does at a real provider).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


@dataclass(frozen=True)
class ClockAnchor:
    """Simulated time ``sim`` was read at real time ``real``; ``advanced`` sums explicit jumps."""

    sim: float
    real: float
    advanced: float


class ClockPersistence(Protocol):
    """Where the clock keeps its anchor between runs."""

    def load_clock(self) -> ClockAnchor | None: ...

    def save_clock(self, anchor: ClockAnchor) -> None: ...


class TimeSource(Protocol):
    """Real time in seconds since the epoch (a seam: tests of clock arithmetic need no sleep)."""

    def now(self) -> float: ...


class SimClock:
    """Simulated time = real time × speed, plus explicit advances; thread-safe."""

    def __init__(
        self,
        speed: float,
        persistence: ClockPersistence | None = None,
        real_time: TimeSource | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be 0 or more, got {speed}")
        self._real = real_time or RealTime()
        self._lock = threading.Lock()
        self._persistence = persistence
        self._speed = speed
        stored = persistence.load_clock() if persistence else None
        real_now = self._real.now()
        if stored is None:
            self._anchor = ClockAnchor(sim=real_now, real=real_now, advanced=0.0)
        else:
            # The stored anchor ran at the previous run's speed; re-anchor at this moment so a
            # new speed applies from now on. Time spent down counts at real rate (speed 1).
            elapsed = max(0.0, real_now - stored.real)
            self._anchor = ClockAnchor(
                sim=stored.sim + elapsed, real=real_now, advanced=stored.advanced
            )
        self._save()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """Simulated seconds since the epoch."""
        with self._lock:
            anchor = self._anchor
            return anchor.sim + (self._real.now() - anchor.real) * self._speed

    def wall_now(self) -> float:
        """Real seconds since the epoch plus every explicit advance (for URL expiry)."""
        with self._lock:
            return self._real.now() + self._anchor.advanced

    def advance(self, seconds: float) -> float:
        """Jump simulated (and wall) time forward; returns the new simulated time."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got {seconds} seconds")
        with self._lock:
            real_now = self._real.now()
            sim_now = self._anchor.sim + (real_now - self._anchor.real) * self._speed
            self._anchor = ClockAnchor(
                sim=sim_now + seconds, real=real_now, advanced=self._anchor.advanced + seconds
            )
        self._save()
        return self.now()

    def set_speed(self, speed: float) -> None:
        """Change the speed from this moment on (0 freezes time except explicit advances)."""
        if speed < 0:
            raise ValueError(f"clock speed must be 0 or more, got {speed}")
        with self._lock:
            real_now = self._real.now()
            sim_now = self._anchor.sim + (real_now - self._anchor.real) * self._speed
            self._anchor = ClockAnchor(sim=sim_now, real=real_now, advanced=self._anchor.advanced)
            self._speed = speed
        self._save()

    def _save(self) -> None:
        if self._persistence is not None:
            with self._lock:
                anchor = self._anchor
            self._persistence.save_clock(anchor)


class RealTime:
    """The real clock."""

    def now(self) -> float:
        return time.time()


def iso_z(seconds: float) -> str:
    """ISO-8601 UTC with a ``Z`` suffix, second precision (Segmind's ``created_ts`` style)."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(seconds: float) -> str:
    """ISO-8601 UTC with microseconds and ``Z`` (for APIs that show sub-second times)."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
