"""Counts and a bounded log of the requests the sandbox served (not control requests).

Tests count HTTP requests through it ("listing twice makes exactly two list calls"), and the
benchmark reads it. Only method, path, route template, status and fault are kept: never
headers or query strings, which may carry keys or signatures.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoggedRequest:
    sequence: int
    method: str
    path: str
    route: str | None
    """Route template (``/qubrid/api/v1/fine-tuning/jobs/{job_id}``); ``None`` if none matched."""
    status: int | None
    """Status answered; ``None`` when the connection was dropped."""
    fault: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "status": self.status,
            "fault": self.fault,
        }


class RequestLog:
    """Thread-safe counters per route and the last ``capacity`` requests."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LoggedRequest] = deque(maxlen=capacity)
        self._counts: Counter[str] = Counter()
        self._sequence = 0

    def record(
        self, *, method: str, path: str, route: str | None, status: int | None, fault: str | None
    ) -> None:
        with self._lock:
            self._sequence += 1
            self._entries.append(LoggedRequest(self._sequence, method, path, route, status, fault))
            self._counts[f"{method} {route or path}"] += 1

    def counts(self) -> dict[str, int]:
        """Requests per ``"METHOD route-template"`` since the last clear."""
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def entries(self, limit: int | None = None) -> list[LoggedRequest]:
        with self._lock:
            entries = list(self._entries)
        return entries if limit is None else entries[-limit:]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()
