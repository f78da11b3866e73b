"""Decisions: the one change each pairing of one provider calls for, with a human reason.

- no current job: create (reusing an uploaded dataset with the same marker when one is listed);
  blocked while a live namesake exists, since adopting it must be explicit;
- a compared field differs: replace if any immutable field does (blocked unless
  ``allow_replace`` or the spec's ``lifecycle.allow_replace``; always blocked under
  ``lifecycle.prevent_destroy``), else update (Segmind ``access``, the one field a provider can
  change);
- nothing differs: noop, carrying the job's health (a failed job stays failed unless
  ``retry_failed``);
- a job of this repository's owner no spec names, with ``prune``: delete, unless the
  repository ``forget``s it (Segmind cannot delete: a warning saying what to do).

A create or replace whose earlier sending is still unsettled (``pending_write``) is held: a
confirmed one stands for the job the list does not show yet, one whose outcome is unknown
blocks it. A provider whose observation is incomplete gets no actionable change: acting on
half a picture could create a second job for a name that has one. Its specs get no change at
all unless the part that was read shows them in sync (a create would claim that no job has the
name, a replace that the job seen is the newest): they are ``not_planned``, and the plan says
why once, per provider. A delete of a job that was seen is kept, blocked. A provider that
refuses the service outright (``ProviderObservation.refused``) blocks each change with a short
reason, its message being said once on the plan. ``decide_provider`` makes all of one
provider's decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from reconciler.core.action import Action
from reconciler.core.marker import Marker
from reconciler.core.observed import (
    Health,
    ObservedJob,
    ProviderObservation,
    RecentWrite,
    RemoteDataset,
    WriteState,
)
from reconciler.core.plan import (
    Blocker,
    BlockKind,
    Change,
    IncompleteProvider,
    PlanOptions,
    Upload,
)
from reconciler.core.spec import DatasetKind, DesiredJob, Provider
from reconciler.diff.compare import compare_job
from reconciler.diff.pair import Pairing, identify_jobs, pair
from reconciler.providers.profile import NoDelete
from reconciler.providers.profiles import PROFILES

REPLACE_FIX = (
    "rename the spec to train a new version, or pass --allow-replace (or set"
    " `lifecycle: {allow_replace: true}` on the spec in a reviewed change)"
)


ReusableDatasets = Mapping[Marker, RemoteDataset]
"""The newest usable listed dataset of each marker (``reusable_datasets``)."""


def reusable_datasets(datasets: Iterable[RemoteDataset]) -> dict[Marker, RemoteDataset]:
    """The newest usable dataset per marker (a validated one before one still validating),
    built once per provider so that finding the dataset a create can reuse costs one lookup
    rather than a scan of the whole list."""
    newest: dict[Marker, RemoteDataset] = {}
    for dataset in datasets:
        if not dataset.usable or dataset.marker is None:
            continue
        known = newest.get(dataset.marker)
        if known is None or _dataset_age(dataset) > _dataset_age(known):
            newest[dataset.marker] = dataset
    return newest


def _dataset_age(dataset: RemoteDataset) -> tuple[bool, bool, datetime | None, str]:
    # A validated dataset is taken before one still validating, whatever their ages: a job
    # on it can be submitted at once.
    return (
        not dataset.validating,
        dataset.created_at is not None,
        dataset.created_at,
        dataset.remote_id,
    )


def _dataset_source(
    desired: DesiredJob, reusable: ReusableDatasets
) -> tuple[Upload | None, RemoteDataset | None]:
    """Where a new job's dataset comes from: an upload, a listed dataset to reuse, or (both
    ``None``) the spec's own ``{url:}``/``{id:}``."""
    spec = desired.spec
    if not spec.dataset.is_local:
        return None, None
    if desired.dataset_fingerprint is None or desired.upload_size is None:
        raise ValueError(
            f"{spec.provider} job {spec.name!r}: a local dataset needs its fingerprint and"
            " upload size before planning"
        )
    profile = PROFILES[spec.provider]
    marker = profile.dataset_marker(spec.name, desired.dataset_fingerprint, desired.owner)
    newest = reusable.get(marker)
    if newest is not None:
        return None, newest
    path = spec.dataset.path
    suffix = path.suffix if spec.dataset.kind is DatasetKind.FILE else ""
    remote_name, file_name = profile.upload_names(marker, suffix)
    upload = Upload(
        path=path,
        size=desired.upload_size,
        fingerprint=desired.dataset_fingerprint,
        remote_name=remote_name,
        file_name=file_name,
    )
    return upload, None


def _describe(job: ObservedJob) -> str:
    if job.health is Health.DEGRADED and job.error_message:
        return f"{job.raw_status}: {job.error_message}"
    return job.raw_status


def pending_write(
    write: RecentWrite | None, pairing: Pairing, listed_at: float | None, window: float
) -> RecentWrite | None:
    """``write`` while it is unsettled: no job of its name that it did not know before is
    listed, and the list began less than ``window`` seconds after it was sent (so the list may
    simply not show it yet). ``None`` once settled either way."""
    if write is None:
        return None
    jobs = (*pairing.history, *([pairing.current] if pairing.current else []))
    if any(job.remote_id not in write.known_ids for job in jobs):
        return None  # its job (or a newer one) is listed: it took effect
    if listed_at is not None and listed_at >= write.sent_at + window:
        return None  # a list begun a whole window later lacks it: it never took effect
    return write


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _held_for_pending(change: Change, write: RecentWrite, window: float) -> Change:
    """A create or replace while an earlier one of the same job is unsettled: a confirmed one
    stands for the job the list does not show yet (nothing to do); one whose outcome is
    unknown blocks it, so that no job is ever paid for twice."""
    sent = _when(write.sent_at)
    if write.state is WriteState.CONFIRMED:
        verb = "replaced by" if write.action is Action.REPLACE else "created as"
        return replace(
            change,
            action=Action.NOOP,
            reason=(
                f"{verb} {write.remote_id} at {sent}; the {change.provider} list does not show"
                " it yet"
            ),
            health=Health.PENDING,
            upload=None,
            reuse=None,
            field_changes=(),
        )
    settles = _when(write.sent_at + window)
    who = f" by {write.by}" if write.by else ""
    if write.state is WriteState.INTENDED:
        what = (
            f"another apply ({write.by or 'its holder unknown'}) was about to send a"
            f" {write.action.value} of this job, and may have, up to {sent}"
        )
    else:
        what = (
            f"an earlier {write.action.value} of this job, sent at {sent}{who}, may have gone"
            " through: its answer was lost"
        )
    reason = f"{what}, and the {change.provider} list does not show it yet"
    fix = (
        f"nothing is sent again until a list begun after {settles} (the settle window) still"
        " lacks it; run again after then (the daemon does), or wait for the job to appear"
    )
    blocker = Blocker(BlockKind.UNCONFIRMED, reason, fix, until=write.sent_at + window)
    return replace(change, blocked=blocker)


def _decide_managed(
    pairing: Pairing,
    desired: DesiredJob,
    reusable: ReusableDatasets,
    options: PlanOptions,
    pending: RecentWrite | None = None,
) -> Change:
    decided = _decide(pairing, desired, reusable, options)
    if pending is None or decided.action not in (Action.CREATE, Action.REPLACE):
        return decided
    if decided.blocked is not None and decided.blocked.kind is not BlockKind.NEEDS_ALLOW_REPLACE:
        return decided
    return _held_for_pending(decided, pending, options.settle_window)


def _decide(
    pairing: Pairing, desired: DesiredJob, reusable: ReusableDatasets, options: PlanOptions
) -> Change:
    current = pairing.current

    def change(action: Action, reason: str, **decided: Any) -> Change:
        # Built once per spec, with what every decision shares.
        return Change(
            action=action,
            provider=pairing.provider,
            name=pairing.name,
            reason=reason,
            desired=desired,
            current=current,
            history=tuple(j.remote_id for j in pairing.history),
            health=current.health if current else None,
            **decided,
        )

    if current is None:
        upload, reuse = _dataset_source(desired, reusable)
        gone = pairing.history[-1] if pairing.history else None
        reason = (
            f"the last job ({gone.remote_id}) is {gone.raw_status}; the spec still names it"
            if gone
            else "no remote job has this name"
        )
        blocked = _namesake_blocker(pairing.namesakes, desired)
        if blocked is not None:
            reason = blocked.reason
        return change(Action.CREATE, reason, upload=upload, reuse=reuse, blocked=blocked)

    differences = compare_job(desired, current)
    mutable = PROFILES[desired.spec.provider].capabilities.mutable_fields
    immutable = [d for d in differences if d.path not in mutable]
    if immutable or (current.health is Health.DEGRADED and options.retry_failed):
        upload, reuse = _dataset_source(desired, reusable)
        if immutable:
            paths = ", ".join(d.path for d in immutable)
            reason = f"{paths} cannot change on a submitted job"
        else:
            reason = f"the job failed ({_describe(current)}) and --retry-failed resubmits it"
        lifecycle = desired.spec.lifecycle
        blocked = None
        if immutable and lifecycle.prevent_destroy:
            blocked = Blocker(
                BlockKind.PREVENT_DESTROY,
                f"{reason}, and the spec sets lifecycle.prevent_destroy",
                "rename the spec to train a new version, or remove prevent_destroy in a"
                " reviewed change",
            )
        elif immutable and not (options.allow_replace or lifecycle.allow_replace):
            blocked = Blocker(BlockKind.NEEDS_ALLOW_REPLACE, reason, REPLACE_FIX)
        return change(
            Action.REPLACE,
            reason,
            field_changes=differences,
            upload=upload,
            reuse=reuse,
            blocked=blocked,
        )
    if differences:
        flips = "; ".join(f"{d.path} is {d.remote}, the spec says {d.desired}" for d in differences)
        return change(Action.UPDATE, flips, field_changes=differences, target_id=current.remote_id)
    if current.health is Health.DEGRADED:
        reason = (
            f"in sync; failed ({_describe(current)}), not resubmitted: change the spec or pass"
            " --retry-failed"
        )
    else:
        reason = f"in sync; {current.raw_status}"
    return change(Action.NOOP, reason)


def _namesake_blocker(namesakes: Sequence[ObservedJob], desired: DesiredJob) -> Blocker | None:
    """Why a create must wait while a live job of the spec's name carries no owner: it may be
    this repository's own job from before it had an owner, and adopting it must be explicit."""
    if not namesakes:
        return None
    ids = ", ".join(job.remote_id for job in namesakes)
    shown = ", ".join(f"{job.remote_id} ({job.raw_status or 'no status'})" for job in namesakes)
    reason = (
        f"a job of this name that carries no owner exists ({shown}): it was made by hand, by"
        " another tool, or by reconcile before this repository had an owner"
    )
    fix = (
        f"if it is this repository's job, add `adopt: [{ids}]` to the spec"
        f" ({desired.spec.source.file.name}; `reconcile import` writes it); if not, give the"
        " spec another name"
    )
    return Blocker(BlockKind.UNOWNED_NAMESAKE, reason, fix)


def _forget_hint(job: ObservedJob) -> str:
    return (
        f"or add `{{provider: {job.provider}, name: {job.name}}}` to `forget` in"
        " reconciler.yaml to stop tracking it"
    )


def _delete_for(job: ObservedJob) -> Change | None:
    """The delete of this repository's job no spec names, as its provider's profile plans it
    (``ProviderProfile.plan_delete``), or ``None`` when there is nothing to delete."""
    planned = PROFILES[job.provider].plan_delete(job)
    if planned is None:
        return None
    base = Change(
        action=Action.DELETE,
        provider=job.provider,
        name=job.name or "",
        reason="no spec names it and --prune is set",
        current=job,
        health=job.health,
    )
    if isinstance(planned, NoDelete):
        fix = f"{planned.fix}, {_forget_hint(job)}"
        blocked = Blocker(BlockKind.NOT_SUPPORTED, planned.reason, fix)
        return replace(base, reason=planned.reason, blocked=blocked)
    return replace(base, target_id=planned.target_id, delete_method=planned.method)


def _latest_writes(writes: Iterable[RecentWrite]) -> dict[str, RecentWrite]:
    """The latest recent write of each name."""
    latest: dict[str, RecentWrite] = {}
    for write in writes:
        known = latest.get(write.name)
        if known is None or write.sent_at >= known.sent_at:
            latest[write.name] = write
    return latest


def _block_incomplete(change: Change, error: str) -> Change:
    if change.action is Action.NOOP or (change.blocked is not None and change.blocked.is_warning):
        return change
    reason = (
        f"the {change.provider} job list was not read completely ({error}), so acting now"
        " could duplicate or miss a job"
    )
    fix = f"fix the cause (API key, network, {change.provider} availability) and plan again"
    return replace(change, blocked=Blocker(BlockKind.INCOMPLETE_OBSERVATION, reason, fix))


def refused_reason(provider: Provider) -> str:
    """The short reason each change of a provider that refuses the service is blocked with: the
    refusal's own message is said once, on the plan (``IncompleteProvider.refused``)."""
    return f"{provider} refuses fine-tuning: see above"


def _block_refused(change: Change) -> Change:
    if change.action is Action.NOOP or (change.blocked is not None and change.blocked.is_warning):
        return change
    return replace(change, blocked=refused_blocker(change.provider))


def refused_blocker(provider: Provider) -> Blocker:
    """What blocks each change of a provider that refuses the service, whether its list said so
    (the plan) or a write did (the apply)."""
    # The fix is in the refusal's message, shown once; repeating it per change buried it.
    fix = "move these specs to another provider or remove them"
    return Blocker(BlockKind.PROVIDER_REFUSED, refused_reason(provider), fix)


@dataclass(frozen=True)
class ProviderDecisions:
    """What ``decide_provider`` decided for one provider's share of a plan."""

    changes: list[Change]
    unmanaged: list[ObservedJob]
    not_targeted: set[str]
    """This repository's jobs a scoped plan leaves out (summarised in one line)."""
    incomplete: IncompleteProvider | None
    """Why the provider's observation is incomplete (it refuses the service, or was not fully
    read: then with the specs whose change cannot be decided), or None."""


def decide_provider(
    provider: Provider,
    desired: Sequence[DesiredJob],
    observation: ProviderObservation | None,
    options: PlanOptions,
) -> ProviderDecisions:
    """Every decision of ``provider``'s share of a plan: the changes its pairings call for,
    its live jobs that are not this repository's to change (unmanaged), in a scoped plan
    (``PlanOptions.scoped``) the names of this repository's jobs it leaves out (specs not
    targeted, and jobs no planned spec names: they may be a spec's left out), and why its
    observation is incomplete, if it is (with the names of its specs left unplanned). When
    ``observation`` is incomplete (or ``None``: not observed), a spec's change is kept only if
    it is a noop, the rest of its specs are not planned, and a delete is blocked."""
    owner = options.owner
    jobs = identify_jobs(observation, desired, owner) if observation else ()
    reusable = reusable_datasets(observation.datasets if observation else ())
    planned = [wanted for wanted in desired if options.targeted(wanted.spec.name)]
    not_targeted = {wanted.spec.name for wanted in desired} - {w.spec.name for w in planned}
    pairings, others = pair(provider, planned, jobs, owner)
    unmanaged = [job for job in others if job.health.is_live]
    recent = _latest_writes(observation.recent if observation else ())
    listed_at = observation.started_at if observation else None
    changes: list[Change] = []
    for pairing in pairings:
        if pairing.desired is not None:
            pending = pending_write(
                recent.get(pairing.name), pairing, listed_at, options.settle_window
            )
            changes.append(_decide_managed(pairing, pairing.desired, reusable, options, pending))
            continue
        if options.scoped:
            live = (*pairing.history, *([pairing.current] if pairing.current else []))
            if any(job.health.is_live for job in live):
                not_targeted.add(pairing.name)
            continue
        prunable = options.prune and (provider, pairing.name) not in options.forget
        for job in (*pairing.history, *([pairing.current] if pairing.current else [])):
            if not job.health.is_live:
                continue
            delete = _delete_for(job) if prunable and job.owned_by(owner) else None
            if delete is None:
                unmanaged.append(job)
            else:
                changes.append(delete)
    incomplete = None
    if observation is not None and observation.refused is not None:
        changes = [_block_refused(change) for change in changes]
        incomplete = IncompleteProvider(provider, observation.refused, refused=True)
    elif observation is None or not observation.complete:
        error = (observation.error if observation else None) or "not observed"
        not_planned = sorted(
            c.name for c in changes if c.desired is not None and c.action is not Action.NOOP
        )
        changes = [
            _block_incomplete(c, error)
            for c in changes
            if c.desired is None or c.action is Action.NOOP
        ]
        incomplete = IncompleteProvider(provider, error, not_planned=tuple(not_planned))
    return ProviderDecisions(changes, unmanaged, not_targeted, incomplete)
