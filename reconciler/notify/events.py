"""What is worth a notification, as values: a managed job that finished training or failed
(``HealthEvent``), an apply whose writes failed (``ApplyFailedEvent``), and how the first are
found (``health_events``). Pure: the record of what was seen before comes from the ledger.

A health event is a change of one remote job's health, seen between two observations, to
``Healthy`` (training finished) or ``Degraded`` (failed). The record is kept per managed job
(provider and spec name) with the remote job it was about, so a replace's new job is followed
on its own, and a remote job seen for the first time sets its baseline without a
notification: a daemon started on an account of finished jobs announces none of them, and
neither does a ``status --wait`` that finds a job already done. A job whose provider could not
be read keeps its record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.observed import Health, JobOutputs
from reconciler.core.spec import Provider
from reconciler.status import JobStatus

# The healths a job is announced on reaching.
ANNOUNCED = frozenset({Health.HEALTHY, Health.DEGRADED})


@dataclass(frozen=True)
class RunInfo:
    """Where a notification comes from: ``source`` (``daemon`` or ``status --wait``), the
    commit applied (the daemon, in a git checkout) and whether the sandbox stands in for the
    providers."""

    source: str
    commit: str | None = None
    sandbox: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "commit": self.commit, "sandbox": self.sandbox}


@dataclass(frozen=True)
class HealthEvent:
    """Job ``name`` of ``provider`` (remote job ``remote_id``) went from ``before`` to
    ``after``; ``outputs`` are what it produced (when it finished)."""

    provider: Provider
    name: str
    remote_id: str
    before: Health
    after: Health
    remote_status: str | None
    detail: str
    outputs: JobOutputs | None = None

    @property
    def kind(self) -> str:
        return "job.finished" if self.after is Health.HEALTHY else "job.failed"


@dataclass(frozen=True)
class FailedWrite:
    """One change an apply could not make: its action, job and why."""

    provider: Provider
    name: str
    action: str
    message: str


@dataclass(frozen=True)
class ApplyFailedEvent:
    """An apply whose writes failed or whose outcome is unknown."""

    failures: tuple[FailedWrite, ...] = field(default_factory=tuple)

    kind = "apply.failed"

    @property
    def fingerprint(self) -> str:
        """Which changes failed (not their messages, which may carry times or request ids):
        the same failure on every resync is announced once."""
        keys = sorted(f"{f.action} {f.provider}/{f.name}" for f in self.failures)
        return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


Event = HealthEvent | ApplyFailedEvent


JobRecord = dict[str, str]  # {"remote_id": ..., "health": ...}


def record_key(provider: Provider, name: str) -> str:
    return f"{provider}/{name}"


def health_events(
    seen: Mapping[str, JobRecord],
    statuses: Sequence[JobStatus],
    unread: Collection[Provider] = (),
) -> tuple[dict[str, JobRecord], list[HealthEvent]]:
    """The record after ``statuses`` (spec job -> its current remote job and that job's
    health) and the jobs that reached an announced health since ``seen``. A job whose remote
    job changed (a replace, a create after a delete) starts a new baseline. Providers in
    ``unread`` (their lists, or their finished jobs' outputs, could not be read) are left for
    a later round. Records of jobs this round does not show are kept: a ``status --wait`` of
    some specs must not make the daemon forget the others (the record grows with the names
    ever managed, not with rounds)."""
    record = {key: dict(value) for key, value in seen.items()}
    events: list[HealthEvent] = []
    for status in statuses:
        # A job of a provider not (fully) read waits for a round that reads it: its health
        # may be stale, or its outputs missing from the announcement.
        if status.remote_id is None or status.health is Health.UNKNOWN or status.provider in unread:
            continue
        key = record_key(status.provider, status.name)
        before = seen.get(key, {})
        record[key] = {"remote_id": status.remote_id, "health": status.health.value}
        if before.get("remote_id") != status.remote_id:
            continue  # first seen: the baseline
        if before.get("health") == status.health.value or status.health not in ANNOUNCED:
            continue
        events.append(
            HealthEvent(
                provider=status.provider,
                name=status.name,
                remote_id=status.remote_id,
                before=_health(before.get("health", "")),
                after=status.health,
                remote_status=status.remote_status,
                detail=status.detail,
                outputs=status.outputs,
            )
        )
    return record, events


def _health(value: str) -> Health:
    """A recorded health (a ledger written by another version may hold any word)."""
    try:
        return Health(value)
    except ValueError:
        return Health.UNKNOWN
