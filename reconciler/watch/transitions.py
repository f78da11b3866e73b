"""Job status transitions between runs ("mascot-v1: training -> available"), read off each
run's plan. Pure: the daemon keeps the returned map for the next run, so memory is bounded by
the number of managed jobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.core.observed import Health
from reconciler.core.spec import Provider
from reconciler.status import JobStatus

JobKey = tuple[Provider, str]


@dataclass(frozen=True)
class Transition:
    provider: Provider
    name: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.name}: {self.before} -> {self.after}"


def status_label(status: JobStatus) -> str:
    """The provider's own status word when there is a job ("training"), else the health."""
    if status.remote_status:
        return status.remote_status.lower()
    return status.health.value.lower()


def track_transitions(
    previous: Mapping[JobKey, str], statuses: Sequence[JobStatus]
) -> tuple[dict[JobKey, str], list[Transition]]:
    """The labels of this run and the jobs whose label changed since ``previous``.

    A job whose provider could not be read (``Unknown``) keeps its last label, so an outage
    does not log every job going to "unknown" and back. Jobs no longer named by a spec drop
    out of the map. A job seen for the first time is not a transition.
    """
    current: dict[JobKey, str] = {}
    changes: list[Transition] = []
    for status in statuses:
        key = (status.provider, status.name)
        if status.health is Health.UNKNOWN and status.remote_status is None:
            if key in previous:
                current[key] = previous[key]
            continue
        label = status_label(status)
        current[key] = label
        before = previous.get(key)
        if before is not None and before != label:
            changes.append(Transition(status.provider, status.name, before, label))
    return current, changes
