"""Planning from the providers' lists: observe every provider and diff, provider by provider.

``make_plan`` is ``diff.plan(desired, observe_all(clients), options)`` worked out as the lists
come in: each provider's share of the plan is decided as soon as that provider has been
listed, while the others are still answering, and the plan's snapshot only when it is read.
Lists already being read (``observing.EarlyLists``) are used as they are; the writes of the
journal that the lists may not show yet are handed to the diff with each provider's lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import TYPE_CHECKING

from reconciler.config import Settings
from reconciler.core.observed import ProviderObservation, RecentWrite
from reconciler.core.plan import PlanOptions, PlanOrigin, Reconciliation
from reconciler.core.spec import DesiredJob, Provider
from reconciler.observing import completed, in_client_order, start_observing
from reconciler.providers.base import ProviderClient

if TYPE_CHECKING:
    from reconciler.diff import ProviderPlan


def make_plan(
    settings: Settings,
    desired: Sequence[DesiredJob],
    clients: Mapping[Provider, ProviderClient],
    options: PlanOptions,
    *,
    listed: Mapping[Provider, Future[ProviderObservation]] | None = None,
    recent: Sequence[RecentWrite] = (),
    made_for: PlanOrigin | None = None,
) -> Reconciliation:
    """Observe the providers of ``clients`` and diff them against ``desired``, knowing the
    ``recent`` writes of the journal (creates the lists may not show yet).

    The result is ``diff.plan(desired, observe_all(clients), options)``; each provider's
    share of it is worked out as soon as that provider has been listed (the plan's snapshot
    only when it is read). ``listed`` holds lists already being read for some of the
    providers (``EarlyLists``); the others are requested now. ``made_for``: what the plan
    records it was made for."""
    listing = {p: lists for p, lists in (listed or {}).items() if p in clients}
    listing.update(start_observing({p: c for p, c in clients.items() if p not in listing}))
    observations = completed(listing)
    # Imported once the lists are asked for: nothing before the first request waits for it.
    from reconciler.diff import assemble_plan, desired_by_provider, plan_provider

    by_provider = desired_by_provider(desired)
    seen: list[ProviderObservation] = []
    parts: list[ProviderPlan] = []
    for observation in observations:
        writes = tuple(write for write in recent if write.provider == observation.provider)
        if writes:
            observation = replace(observation, recent=writes)
        seen.append(observation)
        mine = by_provider.get(observation.provider, [])
        parts.append(plan_provider(observation.provider, mine, observation, options))
    for provider in by_provider.keys() - {observation.provider for observation in seen}:
        parts.append(plan_provider(provider, by_provider[provider], None, options))
    plan = assemble_plan(parts, desired, options, made_for)
    return Reconciliation(plan, tuple(desired), in_client_order(clients, seen))
