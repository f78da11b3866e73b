"""Which remote jobs of one provider's list become specs (``select_jobs``). Pure: no I/O.

Jobs are seen as the diff sees them (``reconciler.diff.identify_jobs``: Qubrid jobs have no
name, so theirs comes from the marker in their dataset's name, else ``qubrid-<job id>``), and
of several jobs of one name the one imported is the one a plan would pair with a spec: the
newest live one (``reconciler.diff.current_and_history``); the others stay its history.
Deleted or cancelled jobs are skipped, jobs that carry another repository's owner id are
never imported, and ``--match`` filters names. A job without an owner id is adopted
explicitly: its spec lists it under ``adopt``; a job carrying this repository's own owner id
(whose spec was removed) needs no adoption. Jobs a spec of the repository already manages are
counted, not imported again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from reconciler.core.diagnostics import display_path
from reconciler.core.observed import ObservedJob, ProviderObservation
from reconciler.core.spec import DatasetKind, DesiredJob, FineTuneSpec
from reconciler.diff import current_and_history, identify_jobs
from reconciler.importer.document import ImportedSpec, SkippedJob, spec_document
from reconciler.providers.profiles import PROFILES


@dataclass(frozen=True)
class Selection:
    """What one provider's list yields: the specs to write, the jobs skipped, and how many
    jobs' names did not match ``--match`` or are named by a spec already (these two are
    counted, not listed one by one)."""

    specs: tuple[ImportedSpec, ...]
    skipped: tuple[SkippedJob, ...]
    unmatched: int = 0
    managed: int = 0


def _named_jobs(
    observation: ProviderObservation, managed: Sequence[FineTuneSpec], owner: str | None
) -> tuple[list[ObservedJob], list[SkippedJob]]:
    """The jobs with the names a spec must carry to pair with them in a dry run (a job an
    existing ``{id: ...}`` spec pairs with takes that spec's name, as in a plan), but for
    the jobs of other repositories (another owner id), which are skipped."""

    skipped: list[SkippedJob] = []
    identified = []
    for job in identify_jobs(observation, [DesiredJob(spec) for spec in managed], owner):
        if job.owner is not None and job.owner != owner:
            reason = (
                f"it carries the owner id `{job.owner}` of another repository (this one's is"
                f" `{owner}`)"
                if owner
                else f"it carries the owner id `{job.owner}`, and reconciler.yaml sets no owner"
            )
            skipped.append(SkippedJob(job.provider, job.remote_id, job.remote_name, reason))
        else:
            identified.append(job)
    named = [job for job in identified if job.name]
    name_for = PROFILES[observation.provider].name_for_nameless_job
    if name_for is None:
        skipped.extend(
            SkippedJob(job.provider, job.remote_id, None, "the list shows no name for it")
            for job in identified
            if not job.name
        )
        return named, skipped
    # A job of a provider that keeps no names (Qubrid) without a marked dataset pairs with the
    # one spec whose {id: ...} is its dataset: jobs sharing a dataset are one name, named
    # after the job that is imported (the newest live one; the newest of all when none is).
    by_dataset: dict[str, list[ObservedJob]] = defaultdict(list)
    for job in identified:
        if job.name:
            continue
        if job.dataset_ref is None:
            reason = "the list shows no dataset id, so no spec could be paired with it"
            skipped.append(SkippedJob(job.provider, job.remote_id, None, reason))
        else:
            by_dataset[job.dataset_ref].append(job)
    for group in by_dataset.values():
        newest = max(group, key=lambda j: (j.health.is_live, j.age_key))
        name = name_for(newest.remote_id)
        named.extend(replace(job, name=name) for job in group)
    return named, skipped


def select_jobs(
    observation: ProviderObservation,
    match: re.Pattern[str] | None,
    managed: Sequence[FineTuneSpec] = (),
    owner: str | None = None,
) -> Selection:
    """The jobs of ``observation`` to import: per name the newest live job (as the diff pairs
    it), names matching ``match`` (searched anywhere in the name) only, none of another
    repository (an owner id other than ``owner``), and none that a spec in ``managed`` (the
    repository's specs) already manages."""
    own = [spec for spec in managed if spec.provider == observation.provider]
    named, skipped = _named_jobs(observation, own, owner)
    spec_of = {spec.name: spec for spec in own}
    by_name: dict[str, list[ObservedJob]] = defaultdict(list)
    already_managed = 0
    for job in named:
        assert job.name is not None
        spec = spec_of.get(job.name)
        if spec is None:
            by_name[job.name].append(job)
        elif (
            job.owner is not None  # this repository's: another owner's were skipped already
            or job.remote_id in spec.adopt
            or (spec.dataset.kind is DatasetKind.ID and job.dataset_ref == spec.dataset.value)
        ):
            already_managed += 1
        elif job.health.is_live:
            reason = (
                f"the spec {display_path(spec.source.file)} has its name but does not adopt it;"
                f" add `adopt: [{job.remote_id}]` to that spec if this is its job"
            )
            skipped.append(SkippedJob(job.provider, job.remote_id, job.name, reason))
    specs: list[ImportedSpec] = []
    unmatched = 0
    for name in sorted(by_name):
        group = by_name[name]
        if match is not None and match.search(name) is None:
            unmatched += len(group)
            continue
        current, history = current_and_history(group)
        for job in history:
            if not job.health.is_live:
                reason = f"{job.raw_status or 'gone'}: deleted or cancelled jobs are not imported"
            else:
                newest = current.remote_id if current else "?"
                reason = (
                    f"an older job of this name; the newest ({newest}) is imported and this one"
                    " stays its history"
                )
            skipped.append(SkippedJob(job.provider, job.remote_id, name, reason))
        if current is None:
            continue
        made = spec_document(current)
        if isinstance(made, SkippedJob):
            skipped.append(made)
        else:
            specs.append(made)
    return Selection(tuple(specs), tuple(skipped), unmatched, already_managed)
