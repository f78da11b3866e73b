"""The sandbox's simulated clock.

Two readings come from one clock:

- ``now()``: simulated time, in seconds since the epoch. It runs at ``speed`` times real time
  and jumps forward on explicit advances. Job progress and the timestamps the emulated APIs
  show are measured on it, so a demo at speed 60 trains a job in seconds.
- ``wall_now()``: real time plus the explicit advances only (never scaled by speed). Pre-signed
  URL expiry is measured on it: an upload at speed 60 must not expire sixty times too soon, yet
  a test that advances the clock by an hour must see its URL expire.

The anchor is persisted through a ``ClockPersistence`` store (with the speed the clock was running
at) so the clock carries on after a restart: while no process has the state open, simulated time
keeps running at that speed, as it would at a real provider. ``reconcile --sandbox`` is one short
process per command, so a job created by one run has trained when a later ``status`` looks,
however long the sandbox was down in between:

- reopened after ``g`` real seconds, the clock reads ``g x speed`` later than when it was saved
  (at the speed it was saved with: a clock frozen at speed 0 stays frozen, so tests stay exact);
- a real clock that went backwards (another machine, a corrected clock) adds nothing: simulated
  time never goes back, there or within a run;
- a gap worth more than ``MAX_CATCH_UP`` simulated seconds counts as that much: every lifecycle
  is long over by then, and timestamps stay within what dates can show.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

# The most simulated time a gap between runs adds: a year, far past every lifecycle's end.
MAX_CATCH_UP = 365 * 24 * 3600.0


@dataclass(frozen=True)
class ClockAnchor:
    """Simulated time ``sim`` was read at real time ``real``; ``advanced`` sums explicit jumps;
    ``speed`` is the rate simulated time ran at from there (``None``: saved before it was kept)."""

    sim: float
    real: float
    advanced: float
    speed: float | None = None


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
            self._anchor = ClockAnchor(sim=real_now, real=real_now, advanced=0.0, speed=speed)
        else:
            # While down, the clock ran on at the speed it was saved with (a frozen clock stays
            # frozen); re-anchor at this moment so this run's speed applies from now on.
            self._anchor = ClockAnchor(
                sim=stored.sim + catch_up(stored, real_now, default_speed=speed),
                real=real_now,
                advanced=stored.advanced,
                speed=speed,
            )
        self._latest = self._anchor.sim
        self._save()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """Simulated seconds since the epoch (never less than a reading before it)."""
        with self._lock:
            return self._sim_at(self._real.now())

    def _sim_at(self, real_now: float) -> float:
        """Simulated time at ``real_now``; the caller holds the lock. A real clock stepping back
        holds simulated time where it was instead of rewinding it."""
        anchor = self._anchor
        self._latest = max(
            self._latest, anchor.sim + max(0.0, real_now - anchor.real) * self._speed
        )
        return self._latest

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
            sim_now = self._sim_at(real_now) + seconds
            self._anchor = ClockAnchor(
                sim=sim_now,
                real=real_now,
                advanced=self._anchor.advanced + seconds,
                speed=self._speed,
            )
            self._latest = sim_now
        self._save()
        return self.now()

    def set_speed(self, speed: float) -> None:
        """Change the speed from this moment on (0 freezes time except explicit advances)."""
        if speed < 0:
            raise ValueError(f"clock speed must be 0 or more, got {speed}")
        self._anchor_now(speed)

    def _anchor_now(self, speed: float) -> None:
        """Anchor the clock at its reading now, running on at ``speed``, and persist it."""
        with self._lock:
            real_now = self._real.now()
            self._anchor = ClockAnchor(
                sim=self._sim_at(real_now),
                real=real_now,
                advanced=self._anchor.advanced,
                speed=speed,
            )
            self._speed = speed
        self._save()

    def save(self) -> None:
        """Persist the clock as it reads now (the sandbox calls this as it stops), so the next
        run carries on from this reading even if the real clock stepped back during this one."""
        self._anchor_now(self._speed)

    def _save(self) -> None:
        if self._persistence is not None:
            with self._lock:
                anchor = self._anchor
            self._persistence.save_clock(anchor)


def catch_up(stored: ClockAnchor, real_now: float, *, default_speed: float) -> float:
    """Simulated seconds that passed since ``stored`` was saved, at ``real_now``: the real gap
    times the speed the clock was saved with (``default_speed`` for an anchor saved before the
    speed was kept), never negative, at most ``MAX_CATCH_UP``."""
    speed = default_speed if stored.speed is None else stored.speed
    return min(MAX_CATCH_UP, max(0.0, real_now - stored.real) * speed)


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
