"""Job lifecycles computed on read: a status sequence walked on simulated time.

A job row stores only when it was created (simulated), how far it was pushed ahead by the
control API, and, if it was made to fail or was stopped, when and with what message. Its
status at any moment is a pure function of those and the clock, so ten thousand seeded jobs
cost nothing until they are read, and a restart needs no background worker.

Every table whose rows have a lifecycle includes ``LIFECYCLE_COLUMNS`` in its schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LIFECYCLE_COLUMNS = """
    created_sim REAL NOT NULL,
    updated_sim REAL NOT NULL,
    progress_offset REAL NOT NULL DEFAULT 0,
    failed_sim REAL,
    error_message TEXT,
    final_status TEXT,
    final_sim REAL
"""
"""Columns every lifecycle table carries (paste into its CREATE TABLE).

created_sim      simulated time of creation
updated_sim      simulated time of the last change made by a request (not status progress)
progress_offset  simulated seconds added to this job's age by the control API
failed_sim       when the job fails, on the job's own time (simulated time + progress_offset,
                 so a job pushed ahead reaches a scheduled failure sooner), or NULL
error_message    the failure message shown once failed
final_status     a status set by a request that stops the lifecycle (cancelled, deleted), or NULL
final_sim        simulated time ``final_status`` was set
"""


@dataclass(frozen=True)
class Stage:
    """A status the job holds for ``seconds`` of simulated time before moving on."""

    status: str
    seconds: float


@dataclass(frozen=True)
class JobState:
    """What a job looks like at one moment."""

    status: str
    error_message: str | None
    since: float
    """Simulated time the current status began."""
    history: tuple[tuple[str, float], ...]
    """Every status reached so far with the simulated time it began, oldest first."""
    terminal: bool
    """True once the job will not change by itself (done, failed or stopped)."""

    def reached(self, status: str) -> bool:
        return any(seen == status for seen, _ in self.history)


@dataclass(frozen=True)
class Lifecycle:
    """A provider's status sequence: ``stages`` in order, then ``done`` for good.

    A failure (``failed_sim`` reached) shows ``failed`` with the row's ``error_message``.
    """

    stages: tuple[Stage, ...]
    done: str
    failed: str

    @property
    def statuses(self) -> tuple[str, ...]:
        return (*(stage.status for stage in self.stages), self.done)

    @property
    def total_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def offset_to_reach(self, status: str) -> float:
        """Age (simulated seconds since creation) at which ``status`` begins."""
        age = 0.0
        for stage in self.stages:
            if stage.status == status:
                return age
            age += stage.seconds
        if status == self.done:
            return age
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(self.statuses)}")

    def state(self, row: sqlite3.Row | Mapping[str, Any], now: float) -> JobState:
        """The job's state at simulated time ``now`` from its lifecycle columns."""
        created = float(row["created_sim"])
        offset = float(row["progress_offset"])
        failed_at = row["failed_sim"]
        final_status = row["final_status"]
        # The job's own time runs ``offset`` ahead of the clock; failures are scheduled on it.
        job_now = now + offset
        failed = failed_at is not None and float(failed_at) <= job_now
        age = job_now - created
        if failed:
            age = min(age, float(failed_at) - created)
        if final_status is not None and row["final_sim"] is not None:
            age = min(age, float(row["final_sim"]) + offset - created)
        age = max(0.0, age)
        history: list[tuple[str, float]] = []
        begins = 0.0
        for stage in self.stages:
            if age < begins:
                break
            history.append((stage.status, begins))
            begins += stage.seconds
        if age >= begins:
            history.append((self.done, begins))
        # Shown on the clock's time line; a pushed-ahead job still began at its creation.
        shown = [(status, max(created, created + began - offset)) for status, began in history]
        if failed:
            at = max(created, float(failed_at) - offset)
            shown.append((self.failed, at))
            return JobState(self.failed, row["error_message"], at, tuple(shown), True)
        if final_status is not None:
            since = float(row["final_sim"]) if row["final_sim"] is not None else created
            shown.append((str(final_status), since))
            return JobState(str(final_status), row["error_message"], since, tuple(shown), True)
        status, since = shown[-1]
        return JobState(status, None, since, tuple(shown), status == self.done)
