"""``reconcile status``: every managed job's sync and health, read off a plan.

A job is managed when a spec names it. It is ``Synced`` when the plan leaves it alone and
``OutOfSync`` when the plan would act on it; its health is its current remote job's, ``Missing``
when there is none, and ``Unknown`` when its provider could not be read. Rendered as a text
table, a markdown table or versioned JSON; remote ids, statuses, details and read errors are
provider text and pass through ``reconciler.sanitize`` for each. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.core.action import Action
from reconciler.core.observed import Health
from reconciler.core.plan import BlockKind, IncompleteProvider, Plan
from reconciler.core.spec import Provider
from reconciler.sanitize import json_dumps, markdown_code, markdown_text, one_line

STATUS_FORMAT_VERSION = 1


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


def job_statuses(plan: Plan) -> list[JobStatus]:
    """A status for every job a spec names, in plan order (provider, name)."""
    statuses = []
    for change in plan.changes:
        if change.desired is None:  # a prune candidate: no spec names it
            continue
        current = change.current
        blocked = change.blocked
        if blocked is not None and blocked.kind is BlockKind.INCOMPLETE_OBSERVATION:
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
    return statuses


def _summary(statuses: list[JobStatus]) -> str:
    synced = sum(1 for s in statuses if s.sync is Sync.SYNCED)
    healthy = sum(1 for s in statuses if s.health is Health.HEALTHY)
    return (
        f"Status: {len(statuses)} managed jobs; {synced} synced,"
        f" {len(statuses) - synced} out of sync; {healthy} healthy"
    )


def _unread(incomplete: Sequence[IncompleteProvider], clean: Callable[[str], str]) -> list[str]:
    return [f"! {i.provider}: could not be read ({clean(i.error)})" for i in incomplete]


def render_status_text(
    statuses: list[JobStatus], incomplete: Sequence[IncompleteProvider] = ()
) -> str:
    rows = [("PROVIDER", "JOB", "SYNC", "HEALTH", "REMOTE", "DETAIL")]
    rows += [
        (
            s.provider,
            one_line(s.name),
            s.sync.value,
            s.health.value,
            one_line(s.remote_id or "-"),
            one_line(s.detail),
        )
        for s in statuses
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in rows
    ]
    return "\n".join([*lines, *_unread(incomplete, one_line), "", _summary(statuses)]) + "\n"


def render_status_markdown(
    statuses: list[JobStatus], incomplete: Sequence[IncompleteProvider] = ()
) -> str:
    lines = [
        "### reconcile status",
        "",
        f"**{_summary(statuses)}**",
        "",
        "| provider | job | sync | health | remote id | detail |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {s.provider} | {markdown_code(s.name)} | {s.sync.value} | {s.health.value} |"
        f" {markdown_code(s.remote_id) if s.remote_id else '-'} | {markdown_text(s.detail)} |"
        for s in statuses
    ]
    unread = _unread(incomplete, markdown_text)
    lines += ["", *(f"> {line}" for line in unread)] if incomplete else []
    return "\n".join(lines) + "\n"


def render_status_json(
    statuses: list[JobStatus], incomplete: Sequence[IncompleteProvider] = ()
) -> str:
    document = {
        "format_version": STATUS_FORMAT_VERSION,
        "jobs": [s.to_dict() for s in statuses],
        "incomplete": [{"provider": i.provider, "error": i.error} for i in incomplete],
    }
    return json_dumps(document, indent=2, sort_keys=True) + "\n"
