"""How long an object kind takes to settle: the sandbox's settable latencies.

Some objects settle asynchronously before a client may use them: a Cohere dataset is
``queued``, then ``processing``, then ``validated`` (or ``failed``). Its lifecycle's stages give
the default latency (the sum of their seconds); a test or a benchmark that needs another one
sets it, by ``provider.kind`` (``cohere.datasets``), at start (``SandboxConfig.latencies``,
``start_sandbox(latencies=...)``) or while the sandbox runs (``PUT /_sandbox/latencies``). A
reset of a provider brings its latencies back to where the sandbox started.

Latencies are simulated seconds, like every lifecycle: at ``speed`` 1 a latency of 4 takes four
real seconds, at ``speed`` 0 it ends only when the clock is advanced past it. A latency scales
the kind's stages in proportion (a 4 s Cohere validation is ``queued`` for 4 x 2/7 s, then
``processing``), and is read whenever a status is computed, so a change applies at once to
objects still settling: an object whose age is past the new latency shows settled.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace

from reconcile_sandbox.lifecycle import Lifecycle, Stage
from reconcile_sandbox.provider import Provider


class LatencyError(ValueError):
    """A latency the sandbox cannot take (the message says what it can)."""


def split_latency(text: str) -> tuple[str, float]:
    """``"cohere.datasets=4"`` -> ``("cohere.datasets", 4.0)`` (``reconcile sandbox --latency``);
    whether the sandbox has that latency is checked when it starts."""
    key, sep, value = text.partition("=")
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not sep or not key.strip() or not math.isfinite(seconds) or seconds < 0:
        raise LatencyError(
            f"{text!r}: a latency is PROVIDER.KIND=SECONDS (0 or more), e.g. cohere.datasets=4"
        )
    return key.strip(), seconds


def scaled(lifecycle: Lifecycle, seconds: float) -> Lifecycle:
    """``lifecycle`` with its stages stretched or shrunk to take ``seconds`` in all."""
    total = lifecycle.total_seconds
    if total <= 0:
        return lifecycle
    factor = seconds / total
    return replace(
        lifecycle,
        stages=tuple(Stage(stage.status, stage.seconds * factor) for stage in lifecycle.stages),
    )


class LatencyBook:
    """The latency of every object kind that settles by itself, by ``provider.kind``; safe
    across threads."""

    def __init__(self, providers: Sequence[Provider], start: Mapping[str, float]) -> None:
        self._defaults: dict[str, Lifecycle] = {
            f"{provider.name}.{name}": kind.lifecycle
            for provider in providers
            for name, kind in provider.kinds.items()
            if kind.lifecycle is not None and kind.settles
        }
        self._lock = threading.Lock()
        self._start: dict[str, float] = {}
        for key, seconds in start.items():
            self._check(key, seconds)
            self._start[key] = float(seconds)
        self._current = dict(self._start)
        self._scaled: dict[str, Lifecycle] = {}

    def _check(self, key: str, seconds: float) -> None:
        if key not in self._defaults:
            known = ", ".join(sorted(self._defaults)) or "none"
            raise LatencyError(f"no latency {key!r}; this sandbox has: {known}")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise LatencyError(f"{key}: a latency is a number of seconds; got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise LatencyError(f"{key}: a latency is 0 or more seconds; got {seconds!r}")

    def lifecycle(self, key: str, default: Lifecycle) -> Lifecycle:
        """The lifecycle of kind ``key`` (``provider.kind``) at its current latency."""
        with self._lock:
            if key not in self._current:
                return default
            cached = self._scaled.get(key)
            if cached is None:
                cached = self._scaled[key] = scaled(default, self._current[key])
            return cached

    def set(self, values: Mapping[str, float]) -> None:
        """Take all of ``values`` (``provider.kind`` -> seconds), or none when one is wrong
        (``LatencyError``)."""
        for key, seconds in values.items():
            self._check(key, seconds)
        with self._lock:
            self._current.update({key: float(seconds) for key, seconds in values.items()})
            self._scaled.clear()

    def reset(self, provider: str | None = None) -> None:
        """Back to the latencies the sandbox started with (one provider's, or all)."""
        with self._lock:
            for key in list(self._current):
                if provider is None or key.startswith(f"{provider}."):
                    del self._current[key]
            for key, seconds in self._start.items():
                if provider is None or key.startswith(f"{provider}."):
                    self._current[key] = seconds
            self._scaled.clear()

    def describe(self) -> dict[str, dict[str, float]]:
        """Every settable latency: its current seconds and its default."""
        with self._lock:
            return {
                key: {
                    "seconds": self._current.get(key, lifecycle.total_seconds),
                    "default": lifecycle.total_seconds,
                }
                for key, lifecycle in sorted(self._defaults.items())
            }
