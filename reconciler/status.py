"""``reconcile status``: every managed job's sync and health, read off a plan.

A job is managed when a spec names it. It is ``Synced`` when the plan leaves it alone and
``OutOfSync`` when the plan would act on it; its health is its current remote job's, ``Missing``
when there is none, and ``Unknown`` when its provider could not be read. The command line shows
the statuses through ``reconciler.views.status``; the daemon follows their transitions. Nothing
here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.core.action import Action
from reconciler.core.observed import Health
from reconciler.core.plan import BlockKind, Plan
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "sync": self.sync.value,
            "health": self.health.value,
            "remote_id": self.remote_id,
            "remote_status": self.remote_status,
            "detail": self.detail,
        }


# Blocks that mean the provider's list was not read: the job's health is not known.
_UNREAD = (BlockKind.INCOMPLETE_OBSERVATION, BlockKind.PROVIDER_REFUSED)


def job_statuses(plan: Plan) -> list[JobStatus]:
    """A status for every job a spec names, in plan order (provider, name)."""
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
