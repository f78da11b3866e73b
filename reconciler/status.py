"""``reconcile status``: every managed job's sync and health, read off a plan.

A job is managed when a spec names it. It is ``Synced`` when the plan leaves it alone and
``OutOfSync`` when the plan would act on it; its health is its current remote job's, ``Missing``
when there is none, and ``Unknown`` when its provider could not be read; its ``outputs`` are
what its finished remote job produced (``reconciler.outputs`` reads those a list does not
show). The command line shows the statuses through ``reconciler.views.status`` and exits by
``status_exit_code``; the daemon follows their transitions. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.core.action import Action
from reconciler.core.observed import Health, JobOutputs, ObservedJob
from reconciler.core.plan import BlockKind, IncompleteProvider, Plan
from reconciler.core.spec import Provider


class Sync(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"


@dataclass(frozen=True)
class JobStatus:
    """One managed job: where it is, whether it matches its spec, how it is doing."""

    provider: Provider
    name: str
    sync: Sync
    health: Health
    remote_id: str | None
    remote_status: str | None
    detail: str  # the plan's reason, or the action it would take and why
    outputs: JobOutputs | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "sync": self.sync.value,
            "health": self.health.value,
            "remote_id": self.remote_id,
            "remote_status": self.remote_status,
            "detail": self.detail,
            "outputs": (self.outputs or JobOutputs()).to_dict(),
        }


# Blocks that mean the provider's list was not read: the job's health is not known.
_UNREAD = (BlockKind.INCOMPLETE_OBSERVATION, BlockKind.PROVIDER_REFUSED)


def job_statuses(
    plan: Plan, outputs: Mapping[tuple[Provider, str], JobOutputs] | None = None
) -> list[JobStatus]:
    """A status for every job a spec names, sorted by provider and name. ``outputs``: the
    outputs read beyond the lists, by (provider, remote id) (``reconciler.outputs``)."""
    outputs = outputs or {}
    statuses = []
    for change in plan.changes:
        if change.desired is None:  # a prune candidate: no spec names it
            continue
        current = change.current
        blocked = change.blocked
        if blocked is not None and blocked.kind in _UNREAD:
            health = Health.UNKNOWN
        elif current is None:
            health = Health.MISSING
        else:
            health = current.health
        in_sync = change.action is Action.NOOP
        detail = change.reason if in_sync else f"{change.action.value}: {change.reason}"
        statuses.append(
            JobStatus(
                provider=change.provider,
                name=change.name,
                sync=Sync.SYNCED if in_sync else Sync.OUT_OF_SYNC,
                health=health,
                remote_id=current.remote_id if current else None,
                remote_status=current.raw_status if current else None,
                detail=detail,
                outputs=_outputs_of(current, outputs),
            )
        )
    # The specs of a provider that could not be read have no change in the plan (nothing
    # about their jobs was seen): managed all the same, health unknown.
    for incomplete in plan.incomplete:
        statuses += [
            JobStatus(
                provider=incomplete.provider,
                name=name,
                sync=Sync.OUT_OF_SYNC,
                health=Health.UNKNOWN,
                remote_id=None,
                remote_status=None,
                detail=f"not planned: {incomplete.provider} could not be read",
            )
            for name in incomplete.not_planned
        ]
    return sorted(statuses, key=lambda status: (status.provider, status.name))


def _outputs_of(
    current: ObservedJob | None, read: Mapping[tuple[Provider, str], JobOutputs]
) -> JobOutputs | None:
    if current is None:
        return None
    listed = current.outputs or JobOutputs()
    merged = listed.merged(read.get((current.provider, current.remote_id)))
    return None if merged.empty else merged


# Healths that make `reconcile status` exit 1: a failed job, or one whose state is not known.
FAILING = frozenset({Health.DEGRADED, Health.UNKNOWN})


def status_exit_code(statuses: Sequence[JobStatus], unread: Sequence[IncompleteProvider]) -> int:
    """``reconcile status``'s exit code: 1 when a provider (or a finished job's outputs) could
    not be read or any managed job is ``Degraded`` (failed) or ``Unknown``; else 0, also while
    jobs are ``Pending``, ``Progressing`` or ``Missing`` (not submitted yet) and whether or not
    they are in sync: waiting for those is ``--wait``'s."""
    if unread or any(status.health in FAILING for status in statuses):
        return 1
    return 0
