"""Pairing: each spec with the remote jobs of its identity, before anything is compared.

A job is this repository's when its remote name carries the repository's owner id (Qubrid
jobs have no name, so theirs comes from the marker in their dataset's name, filled in by
``identify_jobs``), or when a spec ``adopt``s it by id. Of several such jobs of one name the
newest live one is current and the rest are history. Jobs of other owners, and jobs without a
name, are kept aside; a live job of a spec's name that carries no owner at all (made by hand, or
before the repository had an owner) is that spec's *namesake*. The import command reuses
``identify_jobs`` and ``current_and_history`` to see remote jobs as the plan does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter

from reconciler.core.observed import ObservedJob, ProviderObservation
from reconciler.core.spec import DatasetKind, DesiredJob, Provider
from reconciler.naming import may_carry_marker
from reconciler.providers.profiles import PROFILES


@dataclass(frozen=True)
class Pairing:
    """A spec (or none) with this repository's remote jobs of its name: the current one and
    the history, and the live jobs of that name that carry no owner (``namesakes``)."""

    provider: Provider
    name: str
    desired: DesiredJob | None
    current: ObservedJob | None
    history: tuple[ObservedJob, ...]
    namesakes: tuple[ObservedJob, ...] = ()


def identify_jobs(
    observation: ProviderObservation, desired: Sequence[DesiredJob] = (), owner: str | None = None
) -> tuple[ObservedJob, ...]:
    """The observed jobs with ``name``, ``owner`` and ``marker`` filled in where the list left
    them out.

    The marker comes from the listed dataset a job uses, else from the dataset reference
    itself (Segmind URL, Cohere id). A job without a name takes its marker's name and owner
    (Qubrid); failing that, a Qubrid job using the ``{id:}`` dataset of exactly one spec takes
    that spec's name, and ``owner``: the spec claims it through the dataset it names.
    """
    datasets = {d.remote_id: d for d in observation.datasets}
    id_owners: dict[str, list[str]] = defaultdict(list)
    for wanted in desired:
        if wanted.spec.dataset.kind is DatasetKind.ID:
            id_owners[wanted.spec.dataset.value].append(wanted.spec.name)
    identified = []
    for job in observation.jobs:
        marker = job.marker
        ref = job.dataset_ref
        if marker is None and ref is not None:
            listed = datasets.get(ref)
            marker = listed.marker if listed is not None else None
            if marker is None and may_carry_marker(ref):
                marker = PROFILES[job.provider].marker_in_dataset_ref(ref, job.remote_name)
        name, job_owner = job.name, job.owner
        if name is None and marker is not None:
            name, job_owner = marker.name, marker.owner
        if name is None and ref is not None and len(id_owners.get(ref, ())) == 1:
            name, job_owner = id_owners[ref][0], owner
        changed = name != job.name or marker != job.marker or job_owner != job.owner
        identified.append(
            replace(job, name=name, owner=job_owner, marker=marker) if changed else job
        )
    return tuple(identified)


def pair(
    provider: Provider,
    desired: Sequence[DesiredJob],
    jobs: Iterable[ObservedJob],
    owner: str | None = None,
) -> tuple[list[Pairing], list[ObservedJob]]:
    """Pairs ``desired`` with the identified ``jobs`` of one provider that are repository
    ``owner``'s, by name, and with the jobs a spec adopts by id.

    Returns the pairings (one per spec, then one per name of this owner that no spec names)
    and the jobs that are not this repository's: without a name, of another owner, or without
    any owner (a spec's live namesakes among these are also on its pairing). The current job
    is the newest live one; deleted or cancelled jobs are only ever history.
    """
    adopted = {remote_id: wanted.spec.name for wanted in desired for remote_id in wanted.spec.adopt}
    by_name: dict[str, list[ObservedJob]] = defaultdict(list)
    unowned_by_name: dict[str, list[ObservedJob]] = defaultdict(list)
    others = []
    for job in jobs:
        claimed = adopted.get(job.remote_id) if adopted else None
        if claimed is not None:
            by_name[claimed].append(job)
        elif job.name is None:
            others.append(job)
        elif job.owner == owner:
            by_name[job.name].append(job)
        else:
            others.append(job)
            if job.owner is None and job.health.is_live:
                unowned_by_name[job.name].append(job)

    pairings = []
    for wanted in sorted(desired, key=lambda d: d.spec.name):
        name = wanted.spec.name
        current, history = current_and_history(by_name.pop(name, []))
        namesakes = tuple(unowned_by_name.get(name, ()))
        pairings.append(Pairing(provider, name, wanted, current, history, namesakes))
    for name in sorted(by_name):
        current, history = current_and_history(by_name[name])
        pairings.append(Pairing(provider, name, None, current, history))
    return pairings, others


def current_and_history(
    group: Sequence[ObservedJob],
) -> tuple[ObservedJob | None, tuple[ObservedJob, ...]]:
    """Of the jobs of one name, the current one (the newest live one, or None) and the
    history: the others, oldest first."""
    if len(group) == 1:
        # Most names in a large account have one job: nothing to order.
        (only,) = group
        return (only, ()) if only.health.is_live else (None, (only,))
    ordered = sorted(group, key=attrgetter("age_key"))
    live = [j for j in ordered if j.health.is_live]
    current = live[-1] if live else None
    return current, tuple(j for j in ordered if j is not current)
