"""``reconcile status`` read in rounds, and ``--wait``: polling until every managed job of the
given specs has finished training.

A round (``read_status``) plans, reads the outputs of finished jobs the lists do not show all
of (``reconciler.outputs``; each job once per machine, remembered by ``reconciler.outputs_cache``)
and gives each job's status.
``wait_for_jobs`` repeats rounds ``interval`` seconds apart until one of:

- every job is ``Healthy`` and every provider was read: done (exit 0);
- a job is ``Degraded`` (its training failed): failed, at once (exit 1);
- ``timeout`` seconds have passed: timed out (exit 1), the jobs not done named.

A provider that cannot be read in one round is read again in the next (a blip must not fail a
pipeline that waits for hours); still unread at the timeout, the wait times out saying so.
Jobs ``Missing`` (not submitted yet) are waited for like the others: an apply or the daemon
may submit them. ``pause`` and ``clock`` are the real ones, replaced by tests that drive the
sandbox's clock instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.core.observed import Health, JobOutputs
from reconciler.core.plan import IncompleteProvider
from reconciler.outputs import OutputsKey
from reconciler.outputs_cache import read_outputs_once
from reconciler.run import Run
from reconciler.status import JobStatus, job_statuses

DEFAULT_WAIT_INTERVAL = 15.0


@dataclass(frozen=True)
class StatusReport:
    """One round: every managed job's status, what could not be read, and every finished
    job's outputs known after it (``known_outputs``: the next round's ``known``)."""

    statuses: list[JobStatus]
    unread: tuple[IncompleteProvider, ...]
    known_outputs: Mapping[OutputsKey, JobOutputs] = field(repr=False)

    @property
    def failed(self) -> list[JobStatus]:
        return [s for s in self.statuses if s.health is Health.DEGRADED]

    @property
    def not_done(self) -> list[JobStatus]:
        return [s for s in self.statuses if s.health is not Health.HEALTHY]


def read_status(run: Run, known: Mapping[OutputsKey, JobOutputs] | None = None) -> StatusReport:
    """One round of ``run``: plan, outputs, statuses. ``known``: outputs read before (None:
    those this machine remembers), not read again; this round's are remembered, and the
    report carries them all."""
    plan = run.plan().plan
    read, everything = read_outputs_once(run, plan, known)
    unread = (*plan.incomplete, *read.failures)
    return StatusReport(job_statuses(plan, read.outputs), unread, everything)


class WaitEnd(StrEnum):
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"


@dataclass(frozen=True)
class WaitResult:
    end: WaitEnd
    report: StatusReport  # the last round
    rounds: int


def wait_for_jobs(
    run: Run,
    *,
    timeout: float | None,
    interval: float = DEFAULT_WAIT_INTERVAL,
    on_round: Callable[[StatusReport], None] | None = None,
    pause: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WaitResult:
    """Rounds ``interval`` seconds apart until done, failed or ``timeout`` (None: no limit);
    ``on_round`` sees each round (progress lines, notifications)."""
    deadline = None if timeout is None else clock() + timeout
    known: Mapping[OutputsKey, JobOutputs] | None = None  # the first round recalls them
    rounds = 0
    while True:
        report = read_status(run, known)
        known = report.known_outputs
        rounds += 1
        if on_round is not None:
            on_round(report)
        if report.failed:
            return WaitResult(WaitEnd.FAILED, report, rounds)
        if not report.unread and not report.not_done:
            return WaitResult(WaitEnd.DONE, report, rounds)
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            return WaitResult(WaitEnd.TIMED_OUT, report, rounds)
        pause(interval if left is None else min(interval, left))
