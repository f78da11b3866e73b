"""The plan as a whole: each provider's share (``plan_provider``), joined by ``assemble_plan``
under the plan's guardrails, and ``plan``, both steps at once.

Each provider's share depends on that provider alone, so ``reconciler.planning`` works out each
share as soon as its provider has been listed, while the slower lists are still coming in. A
plan that creates, replaces or deletes more than its ``guardrails`` allow is blocked as a whole,
never cut short. The snapshot is worked out only when read (``Plan.snapshot`` is lazy): only a saved
plan, JSON output and a staleness check read it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache

from reconciler.core.action import Action
from reconciler.core.observed import ObservedJob, ObservedState, ProviderObservation
from reconciler.core.plan import (
    Blocker,
    BlockKind,
    Change,
    IncompleteProvider,
    Plan,
    PlanOptions,
    PlanOrigin,
)
from reconciler.core.spec import DesiredJob, Provider
from reconciler.diff.decide import decide_provider
from reconciler.diff.snapshot import (
    SnapshotPart,
    desired_snapshot,
    observation_snapshot,
    snapshot_digest,
    snapshot_items,
)


@dataclass(frozen=True)
class ProviderPlan:
    """One provider's share of a plan: its changes, its unmanaged jobs, the names of this
    repository's jobs a scoped plan leaves out (``not_targeted``), why its observation is
    incomplete (if it is), and the observation it was made from (``None`` when not
    observed), whose part of the snapshot is worked out only when the snapshot is read.
    Each provider's share depends on that provider alone, so ``reconciler.planning`` can work
    out one while the others are still being listed; ``assemble_plan`` joins them."""

    provider: Provider
    changes: tuple[Change, ...]
    unmanaged: tuple[ObservedJob, ...]
    incomplete: IncompleteProvider | None
    observation: ProviderObservation | None
    not_targeted: tuple[str, ...] = ()

    def snapshot_part(self, window: float) -> SnapshotPart | None:
        """This share's part of the snapshot (``None`` when not observed)."""
        if self.observation is None:
            return None
        return observation_snapshot(self.observation, window)


def desired_by_provider(desired: Sequence[DesiredJob]) -> dict[Provider, list[DesiredJob]]:
    """``desired`` split by provider; ``ValueError`` when two specs name one job."""
    by_provider: dict[Provider, list[DesiredJob]] = defaultdict(list)
    seen: set[tuple[Provider, str]] = set()
    for job in desired:
        if job.key in seen:
            raise ValueError(f"two specs name {job.spec.provider} job {job.spec.name!r}")
        seen.add(job.key)
        by_provider[job.spec.provider].append(job)
    return dict(by_provider)


def plan_provider(
    provider: Provider,
    desired: Sequence[DesiredJob],
    observation: ProviderObservation | None,
    options: PlanOptions,
) -> ProviderPlan:
    """The share of ``provider`` (its specs ``desired``; ``observation`` None when it was
    not observed) in the plan."""
    decided = decide_provider(provider, desired, observation, options)
    # Sorted here, where the provider is the same for all: the plan's order is then the
    # providers' in turn, and a share is sorted while other providers are still listed.
    return ProviderPlan(
        provider=provider,
        changes=tuple(sorted(decided.changes, key=lambda c: c.sort_key)),
        unmanaged=tuple(sorted(decided.unmanaged, key=lambda j: (j.name or "", j.remote_id))),
        incomplete=decided.incomplete,
        observation=observation,
        not_targeted=tuple(sorted(decided.not_targeted)),
    )


_LIMIT_FLAGS = {
    Action.CREATE: ("max_creates", "--max-creates"),
    Action.REPLACE: ("max_replaces", "--max-replaces"),
    Action.DELETE: ("max_deletes", "--max-deletes"),
}
_ACTION_NOUNS = {Action.CREATE: "create", Action.REPLACE: "replace", Action.DELETE: "delete"}


def guardrail_counts(changes: Iterable[Change]) -> dict[Action, int]:
    """The creates, replaces and deletes a plan would carry out but for its guardrails
    (changes blocked for another reason do not count)."""
    counts = dict.fromkeys(_LIMIT_FLAGS, 0)
    for change in changes:
        blocked = change.blocked
        if change.action in counts and (blocked is None or blocked.kind is BlockKind.GUARDRAIL):
            counts[change.action] += 1
    return counts


def apply_guardrails(changes: tuple[Change, ...], options: PlanOptions) -> tuple[Change, ...]:
    """``changes``, all blocked when they create, replace or delete more jobs than
    ``options.guardrails`` allow: a plan that large is blocked as a whole, never cut short."""
    counts = guardrail_counts(changes)
    over = []
    for action, (setting, flag) in _LIMIT_FLAGS.items():
        limit = options.guardrails.limit_of(action)
        if limit is not None and counts[action] > limit:
            over.append((action, counts[action], limit, setting, flag))
    if not over:
        return changes
    reason = "; ".join(
        f"the plan would {_ACTION_NOUNS[action]} {count} job{'s' if count != 1 else ''} and"
        f" guardrails.{setting} is {limit}"
        for action, count, limit, setting, _ in over
    )
    raise_to = ", ".join(f"{setting}: {count}" for _, count, _, setting, _ in over)
    flags = " ".join(f"{flag} {count}" for _, count, _, _, flag in over)
    fix = (
        "check that this is what you meant (a copied folder, a renamed tree or a changed owner"
        f" also look like this); then raise `guardrails: {{{raise_to}}}` in reconciler.yaml, or"
        f" pass {flags} for this run"
    )
    blocker = Blocker(BlockKind.GUARDRAIL, reason, fix)
    return tuple(
        replace(change, blocked=blocker)
        if change.action is not Action.NOOP and change.blocked is None
        else change
        for change in changes
    )


def assemble_plan(
    parts: Iterable[ProviderPlan],
    desired: Sequence[DesiredJob],
    options: PlanOptions,
    made_for: PlanOrigin | None = None,
) -> Plan:
    """The plan made of every provider's share (one per provider that has specs or was
    observed) for the specs ``desired``, ``made_for`` what it says.

    Its snapshot hashes every observed job, and only a saved plan, JSON output and a staleness
    check read it: it is computed when first read (``Lazy``), from the same values, and so
    are its items."""
    ordered = sorted(parts, key=lambda part: part.provider)
    # Each share is sorted already (``plan_provider``), and a share holds one provider.
    changes = apply_guardrails(
        tuple(change for part in ordered for change in part.changes), options
    )
    unmanaged = tuple(job for part in ordered for job in part.unmanaged)
    wanted = tuple(desired)

    @cache  # once for both the snapshot and its items
    def parts_made() -> tuple[SnapshotPart, dict[Provider, SnapshotPart]]:
        observed = {p.provider: p.snapshot_part(options.settle_window) for p in ordered}
        return (
            desired_snapshot(wanted, options),
            {provider: part for provider, part in observed.items() if part is not None},
        )

    return Plan(
        changes=changes,
        unmanaged=unmanaged,
        options=options,
        snapshot=lambda: snapshot_digest(*parts_made()),
        incomplete=tuple(p.incomplete for p in ordered if p.incomplete is not None),
        snapshot_items=lambda: snapshot_items(*parts_made()),
        made_for=made_for,
        not_targeted=tuple((p.provider, name) for p in ordered for name in p.not_targeted),
    )


def plan(
    desired: Sequence[DesiredJob],
    observed: ObservedState,
    options: PlanOptions,
    made_for: PlanOrigin | None = None,
) -> Plan:
    """The plan that makes the providers match ``desired``, given what ``observed`` saw."""
    by_provider = desired_by_provider(desired)
    parts = [
        plan_provider(provider, by_provider.get(provider, []), observation, options)
        for provider in set(by_provider) | set(observed.providers)
        for observation in [observed.providers.get(provider)]
    ]
    return assemble_plan(parts, desired, options, made_for)
