"""What became of the changes of one apply: an ``Outcome`` per change, of an ``OutcomeKind``,
gathered in an ``ApplyResult`` in plan order, with the ``ProviderRefusal`` of each provider that
refused the service part-way (its changes are blocked by it and only point at its message).

Values only: ``reconciler.apply`` makes them, the views and the daemon read them, and
``to_dict`` is their JSON form (inside the document of ``reconcile apply --output json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.core.plan import Change
from reconciler.core.spec import Provider


class OutcomeKind(StrEnum):
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    # A create that went out and whose outcome is not known yet: it may or may not exist.
    UNCONFIRMED = "unconfirmed"
    # A change nobody can make (a delete the provider does not offer): not an error.
    WARNING = "warning"


@dataclass(frozen=True)
class Outcome:
    """What became of one change. ``message`` says what was done, the provider's message for
    a failure, or the blocker's reason; ``remote_id`` is the job a create produced."""

    change: Change
    kind: OutcomeKind
    message: str
    remote_id: str | None = None

    @property
    def provider(self) -> Provider:
        return self.change.provider

    @property
    def name(self) -> str:
        return self.change.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.change.action.value,
            "provider": self.provider,
            "name": self.name,
            "outcome": self.kind.value,
            "message": self.message,
            "remote_id": self.remote_id,
        }


@dataclass(frozen=True)
class ProviderRefusal:
    """A provider refused the service itself during the apply (a write answered that the API is
    switched off): ``message`` says so and what to do, once for all of its changes."""

    provider: Provider
    message: str


@dataclass(frozen=True)
class ApplyResult:
    """Every outcome of one apply, in plan order, and the providers that refused the service
    while it ran (by provider name)."""

    outcomes: tuple[Outcome, ...]
    refusals: tuple[ProviderRefusal, ...] = ()

    def of_kind(self, kind: OutcomeKind) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.kind is kind)

    @property
    def ok(self) -> bool:
        """True when nothing failed, nothing was blocked and no create is unconfirmed."""
        return all(o.kind in (OutcomeKind.DONE, OutcomeKind.WARNING) for o in self.outcomes)

    def summary_line(self) -> str:
        """``Apply: 2 done, 0 failed, 0 blocked`` (``, 1 unconfirmed`` and ``; 1 warning``
        when there are any)."""
        done = len(self.of_kind(OutcomeKind.DONE))
        failed = len(self.of_kind(OutcomeKind.FAILED))
        blocked = len(self.of_kind(OutcomeKind.BLOCKED))
        line = f"Apply: {done} done, {failed} failed, {blocked} blocked"
        unconfirmed = len(self.of_kind(OutcomeKind.UNCONFIRMED))
        if unconfirmed:
            line += f", {unconfirmed} unconfirmed"
        warnings = len(self.of_kind(OutcomeKind.WARNING))
        if warnings:
            line += f"; {warnings} warning{'s' if warnings != 1 else ''}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": len(self.of_kind(OutcomeKind.DONE)),
            "failed": len(self.of_kind(OutcomeKind.FAILED)),
            "blocked": len(self.of_kind(OutcomeKind.BLOCKED)),
            "unconfirmed": len(self.of_kind(OutcomeKind.UNCONFIRMED)),
            "warnings": len(self.of_kind(OutcomeKind.WARNING)),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "refused": {r.provider: r.message for r in self.refusals},
        }
