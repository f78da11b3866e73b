"""The diff: specs and observed remote state in, a ``Plan`` out. Pure: no I/O, no clock.

It works in two steps, as gitops engines do. First each spec is **paired** with the remote
jobs of its identity (owner, provider, name): a job is this repository's when its remote name
carries the repository's owner id (Qubrid jobs have no name, so theirs comes from the marker
in their dataset's name), or when a spec ``adopt``s it by id; of several such jobs of one name
the newest live one is current and the rest are history. Jobs of other owners, and jobs no
spec names, are kept aside; a job of a spec's name that carries no owner at all (made by hand,
or before the repository had an owner) is that spec's *namesake*. Then one **decision** per
pair, each with a human reason:

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

A plan that creates, replaces or deletes more than its ``guardrails`` allow is blocked as a
whole (``assemble_plan``).

Only fields the spec sets and the provider's list reveals are compared, after normalising
both sides (``normalise_value``). A provider whose observation is incomplete gets no
actionable change: everything there is blocked, since acting on half a picture could create a
second job for a name that has one.

Each provider's share of the plan (``plan_provider``) depends on that provider alone, and
``plan`` joins the shares (``assemble_plan``): the engine works out each share as soon as its
provider has been listed, while the slower lists are still coming in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from reconciler.model import (
    Action,
    Blocker,
    BlockKind,
    Change,
    DatasetKind,
    DeleteMethod,
    DesiredJob,
    FieldChange,
    Health,
    IncompleteProvider,
    Marker,
    ObservedJob,
    ObservedState,
    Plan,
    PlanOptions,
    Provider,
    ProviderObservation,
    RecentWrite,
    RemoteDataset,
    Upload,
    WriteState,
    options_to_dict,
    spec_to_dict,
    strip_url_secrets,
    to_json_value,
)
from reconciler.naming import (
    FINGERPRINT_CHARS,
    dataset_marker,
    marker_from_dataset_ref,
    may_carry_marker,
    upload_names,
)

# Top-level spec fields compared with what a list reveals. Everything but ``access`` is fixed
# once a job is submitted; changing it needs a new job (CONTRACTS.md §D).
MUTABLE_FIELDS = frozenset({"access"})
COMPARED_FIELDS = (
    "base_model",
    "base_type",
    "task_type",
    "theme",
    "train_type",
    "machine_type",
    "trigger_word",
    "instance_prompt",
    "access",
)
# Required fields are compared even if a spec loader left them out of ``set_fields``.
_ALWAYS_COMPARED = frozenset({"base_model", "base_type"})

REPLACE_FIX = (
    "rename the spec to train a new version, or pass --allow-replace (or set"
    " `lifecycle: {allow_replace: true}` on the spec in a reviewed change)"
)
_IDENTIFIER = re.compile(r"[A-Za-z0-9_]+")


def normalise_value(value: Any, *, free_text: bool = False) -> Any:
    """A comparable form of a spec or remote value.

    Numbers compare by value (1 == 1.0 == "1"); "True"/"false" are booleans; URLs lose their
    query and trailing slash; identifier-like strings (enum values) ignore case unless
    ``free_text`` (prompts, trigger words); mappings and sequences compare element-wise.
    """
    if value is None:
        return value
    if isinstance(value, bool):
        # Tagged: True == 1.0 in Python, but a flag and a number are different settings.
        return ("bool", value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return ("bool", text.lower() == "true")
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
        if text.startswith(("http://", "https://")):
            return strip_url_secrets(text).rstrip("/")
        if not free_text and _IDENTIFIER.fullmatch(text):
            return text.casefold()
        return text
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), normalise_value(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(normalise_value(v) for v in value)
    return value


def _is_free_text(key: str) -> bool:
    return "prompt" in key or key == "trigger_word"


def _same(desired: Any, remote: Any, key: str) -> bool:
    free_text = _is_free_text(key)
    wanted = normalise_value(desired, free_text=free_text)
    return bool(wanted == normalise_value(remote, free_text=free_text))


# --- Pairing -------------------------------------------------------------------------------


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
                marker = marker_from_dataset_ref(job.provider, ref, job.remote_name)
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

    def split(name: str) -> tuple[ObservedJob | None, tuple[ObservedJob, ...]]:
        group = by_name.pop(name, [])
        if len(group) == 1:
            # Most names in a large account have one job: nothing to order.
            (only,) = group
            return (only, ()) if only.health.is_live else (None, (only,))
        group.sort(key=attrgetter("age_key"))
        live = [j for j in group if j.health.is_live]
        current = live[-1] if live else None
        return current, tuple(j for j in group if j is not current)

    pairings = []
    for wanted in sorted(desired, key=lambda d: d.spec.name):
        name = wanted.spec.name
        current, history = split(name)
        namesakes = tuple(unowned_by_name.get(name, ()))
        pairings.append(Pairing(provider, name, wanted, current, history, namesakes))
    for name in sorted(by_name):
        current, history = split(name)
        pairings.append(Pairing(provider, name, None, current, history))
    return pairings, others


# --- Comparison ----------------------------------------------------------------------------


def compare_job(desired: DesiredJob, job: ObservedJob) -> tuple[FieldChange, ...]:
    """The compared fields that differ: set by the spec, revealed by the list, unequal."""
    spec = desired.spec
    changes = []
    dataset = _dataset_change(desired, job)
    if dataset is not None:
        changes.append(dataset)
    for name in COMPARED_FIELDS:
        wanted = getattr(spec, name)
        seen = getattr(job, name)
        # An empty value leaves the choice to the provider (a Cohere spec may omit
        # base_model.name, as Cohere's own examples do): whatever the remote chose is not drift.
        if wanted is None or wanted == "" or seen is None:
            continue
        if name not in spec.set_fields and name not in _ALWAYS_COMPARED:
            continue
        if not _same(wanted, seen, name):
            changes.append(FieldChange(name, to_json_value(seen), to_json_value(wanted)))
    if spec.wandb is not None and job.wandb is not None:
        for key in sorted(spec.wandb):
            if key in job.wandb and not _same(spec.wandb[key], job.wandb[key], key):
                changes.append(FieldChange(f"wandb.{key}", job.wandb[key], spec.wandb[key]))
    if job.parameters is not None:
        for key in sorted(spec.parameters):
            if key in job.parameters and not _same(spec.parameters[key], job.parameters[key], key):
                changes.append(
                    FieldChange(
                        f"parameters.{key}",
                        to_json_value(job.parameters[key]),
                        to_json_value(spec.parameters[key]),
                    )
                )
    return tuple(changes)


def _dataset_change(desired: DesiredJob, job: ObservedJob) -> FieldChange | None:
    dataset = desired.spec.dataset
    if dataset.is_local:
        fingerprint = desired.dataset_fingerprint
        if fingerprint is None or (job.marker is None and job.dataset_ref is None):
            return None
        wanted = fingerprint[:FINGERPRINT_CHARS]
        if job.marker is not None and job.marker.fingerprint12 == wanted:
            return None
        seen = job.marker.fingerprint12 if job.marker else job.dataset_ref
        return FieldChange("dataset", seen, wanted)
    if job.dataset_ref is None:
        return None
    if dataset.kind is DatasetKind.URL:
        if _same(dataset.value, job.dataset_ref, "dataset"):
            return None
        return FieldChange("dataset", job.dataset_ref, strip_url_secrets(dataset.value))
    if dataset.value == job.dataset_ref:
        return None
    return FieldChange("dataset", job.dataset_ref, dataset.value)


# --- Decisions -----------------------------------------------------------------------------


ReusableDatasets = Mapping[Marker, RemoteDataset]
"""The newest usable listed dataset of each marker (``reusable_datasets``)."""


def reusable_datasets(datasets: Iterable[RemoteDataset]) -> dict[Marker, RemoteDataset]:
    """The newest usable dataset per marker, built once per provider so that finding the
    dataset a create can reuse costs one lookup rather than a scan of the whole list."""
    newest: dict[Marker, RemoteDataset] = {}
    for dataset in datasets:
        if not dataset.usable or dataset.marker is None:
            continue
        known = newest.get(dataset.marker)
        if known is None or _dataset_age(dataset) > _dataset_age(known):
            newest[dataset.marker] = dataset
    return newest


def _dataset_age(dataset: RemoteDataset) -> tuple[bool, datetime | None, str]:
    return (dataset.created_at is not None, dataset.created_at, dataset.remote_id)


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
    marker = dataset_marker(spec.provider, spec.name, desired.dataset_fingerprint, desired.owner)
    newest = reusable.get(marker)
    if newest is not None:
        return None, newest
    path = spec.dataset.path
    suffix = path.suffix if spec.dataset.kind is DatasetKind.FILE else ""
    remote_name, file_name = upload_names(spec.provider, marker, suffix)
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
    immutable = [d for d in differences if d.path not in MUTABLE_FIELDS]
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
    """The delete of this repository's job no spec names, or ``None`` when there is nothing
    to delete (a failed Qubrid job holds no model and cannot itself be deleted)."""
    base = Change(
        action=Action.DELETE,
        provider=job.provider,
        name=job.name or "",
        reason="no spec names it and --prune is set",
        current=job,
        health=job.health,
    )
    if job.provider == "segmind":
        reason = "no spec names it, but Segmind has no delete endpoint"
        fix = f"delete it in the Segmind console if it is no longer wanted, {_forget_hint(job)}"
        return replace(base, reason=reason, blocked=Blocker(BlockKind.NOT_SUPPORTED, reason, fix))
    if job.provider == "cohere":
        return replace(base, target_id=job.remote_id, delete_method=DeleteMethod.DELETE_MODEL)
    status = job.raw_status.strip().lower()
    if status in ("queued", "running"):
        return replace(base, target_id=job.remote_id, delete_method=DeleteMethod.CANCEL_JOB)
    if status == "failed":
        return None
    if status == "completed" and job.model_id:
        return replace(base, target_id=job.model_id, delete_method=DeleteMethod.DELETE_MODEL)
    reason = f"no spec names it, but Qubrid shows status {job.raw_status!r} and no model to delete"
    fix = (
        f"cancel or delete it in the Qubrid console if it is no longer wanted, {_forget_hint(job)}"
    )
    return replace(base, reason=reason, blocked=Blocker(BlockKind.NOT_SUPPORTED, reason, fix))


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


def _plan_provider(
    provider: Provider,
    desired: Sequence[DesiredJob],
    observation: ProviderObservation | None,
    options: PlanOptions,
) -> tuple[list[Change], list[ObservedJob]]:
    owner = options.owner
    jobs = identify_jobs(observation, desired, owner) if observation else ()
    reusable = reusable_datasets(observation.datasets if observation else ())
    pairings, others = pair(provider, desired, jobs, owner)
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
        prunable = options.prune and (provider, pairing.name) not in options.forget
        for job in (*pairing.history, *([pairing.current] if pairing.current else [])):
            if not job.health.is_live:
                continue
            delete = _delete_for(job) if prunable and job.owned_by(owner) else None
            if delete is None:
                unmanaged.append(job)
            else:
                changes.append(delete)
    if observation is None or not observation.complete:
        error = (observation.error if observation else None) or "not observed"
        changes = [_block_incomplete(change, error) for change in changes]
    return changes, unmanaged


# --- The plan ------------------------------------------------------------------------------


def _decision_state(job: ObservedJob) -> str:
    """The part of a job's status the plan's decisions depend on (see ``snapshot_of``)."""
    if job.health is Health.MISSING:
        return "gone"
    if job.health is Health.DEGRADED:
        return "failed"
    if job.provider == "qubrid":
        status = job.raw_status.strip().lower()
        return "active" if status in ("queued", "running") else status
    return "live"


# The fields of a job and of a dataset the snapshot covers: every field (under the names of
# their JSON form) but a job's raw status, health and error text, for which
# ``_decision_state`` stands. Taken from the dataclasses so that a field added later is
# covered without anyone remembering to add it here.
_SNAPSHOT_JOB_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ObservedJob)
    if f.name not in ("raw_status", "health", "error_message")
)
_SNAPSHOT_DATASET_FIELDS = tuple(f.name for f in dataclasses.fields(RemoteDataset))
_job_fields = attrgetter(*_SNAPSHOT_JOB_FIELDS)
_dataset_fields = attrgetter(*_SNAPSHOT_DATASET_FIELDS)


def snapshot_of(
    desired: Sequence[DesiredJob], observed: ObservedState, options: PlanOptions
) -> str:
    """sha256 over what the plan's decisions depend on: the specs (not where they are
    written; a ``{url:}`` dataset whole, query included), their dataset fingerprints and
    upload sizes, the options, and every observed job and dataset with its status reduced to
    ``_decision_state`` (a job moving from queued to training does not make a plan stale; one
    that finished, failed or vanished does).

    Each item is one canonical JSON line, its JSON form (``reconciler.model``) with sorted
    keys, built straight from the fields rather than through ``observed_job_to_dict``: the
    same bytes at a fraction of the cost over thousands of jobs. Lines are sorted, so the
    order in which a provider lists things does not matter."""
    observations = {
        p: observation_snapshot(o, options.settle_window) for p, o in observed.providers.items()
    }
    return _snapshot(desired_snapshot(desired, options), observations)


def desired_snapshot(desired: Sequence[DesiredJob], options: PlanOptions) -> str:
    """The part of ``snapshot_of`` the specs and options contribute (tagged lines)."""
    lines = [_tagged("options", _canonical(options_to_dict(options)))]
    specs = []
    for wanted in desired:
        spec = spec_to_dict(wanted.spec)
        del spec["source"]
        # The JSON form drops a URL's query; the snapshot must still see it change.
        spec["dataset"]["sha256"] = hashlib.sha256(wanted.spec.dataset.value.encode()).hexdigest()
        specs.append(_canonical([spec, wanted.dataset_fingerprint, wanted.upload_size]))
    lines.extend(_tagged("desired", line) for line in sorted(specs))
    return "".join(lines)


def observation_snapshot(observation: ProviderObservation, window: float) -> str:
    """The part of ``snapshot_of`` one provider's observation contributes (tagged lines): its
    jobs and datasets, and the recent writes its list may still not show (those sent less
    than a settle ``window`` before the list began: an older one no longer decides anything)."""
    lines = [_tagged("provider", _canonical([observation.provider, observation.complete]))]
    lines.extend(_tagged("job", line) for line in sorted(map(_job_line, observation.jobs)))
    datasets = sorted(map(_dataset_line, observation.datasets))
    lines.extend(_tagged("dataset", line) for line in datasets)
    listed_at = observation.started_at
    recent = sorted(
        _canonical(
            [
                write.name,
                write.action.value,
                write.state.value,
                write.sent_at,
                write.remote_id,
                list(write.known_ids),
            ]
        )
        for write in observation.recent
        if listed_at is None or listed_at < write.sent_at + window
    )
    lines.extend(_tagged("recent", line) for line in recent)
    return "".join(lines)


def _tagged(kind: str, line: str) -> str:
    # One tagged line per item: no item can pass for another.
    return f"{kind}\t{line}\n"


def _snapshot(desired_part: str, observations: Mapping[Provider, str]) -> str:
    digest = hashlib.sha256(desired_part.encode())
    for provider in sorted(observations):
        digest.update(observations[provider].encode())
    return digest.hexdigest()


def _job_line(job: ObservedJob) -> str:
    fields = dict(zip(_SNAPSHOT_JOB_FIELDS, _job_fields(job), strict=True))
    fields["state"] = _decision_state(job)
    return _canonical(fields)


def _dataset_line(dataset: RemoteDataset) -> str:
    return _canonical(dict(zip(_SNAPSHOT_DATASET_FIELDS, _dataset_fields(dataset), strict=True)))


def _json_default(value: Any) -> Any:
    """The JSON form (as ``reconciler.model`` writes it) of values beyond plain JSON types."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Marker):
        return {"name": value.name, "fingerprint12": value.fingerprint12, "owner": value.owner}
    if isinstance(value, Mapping | set | frozenset | Path):
        return to_json_value(value)
    return str(value)


_encode_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=_json_default
).encode


def _canonical(value: Any) -> str:
    return _encode_canonical(value)


@dataclass(frozen=True)
class ProviderPlan:
    """One provider's share of a plan: its changes, its unmanaged jobs, why its observation
    is incomplete (if it is), and the observation it was made from (``None`` when not
    observed), whose part of the snapshot is worked out only when the snapshot is read.
    Each provider's share depends on that provider alone, so the engine can work out one
    while the others are still being listed; ``assemble_plan`` joins them."""

    provider: Provider
    changes: tuple[Change, ...]
    unmanaged: tuple[ObservedJob, ...]
    incomplete: IncompleteProvider | None
    observation: ProviderObservation | None

    def snapshot_part(self, window: float) -> str | None:
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
    changes, unmanaged = _plan_provider(provider, desired, observation, options)
    incomplete = None
    if observation is None or not observation.complete:
        error = (observation.error if observation else None) or "not observed"
        incomplete = IncompleteProvider(provider, error)
    # Sorted here, where the provider is the same for all: the plan's order is then the
    # providers' in turn, and a share is sorted while other providers are still listed.
    return ProviderPlan(
        provider=provider,
        changes=tuple(sorted(changes, key=lambda c: c.sort_key)),
        unmanaged=tuple(sorted(unmanaged, key=lambda j: (j.name or "", j.remote_id))),
        incomplete=incomplete,
        observation=observation,
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
    parts: Iterable[ProviderPlan], desired: Sequence[DesiredJob], options: PlanOptions
) -> Plan:
    """The plan made of every provider's share (one per provider that has specs or was
    observed) for the specs ``desired``.

    Its snapshot hashes every observed job, and only a saved plan, JSON output and a staleness
    check read it: it is computed when first read (``LazyText``), from the same values."""
    ordered = sorted(parts, key=lambda part: part.provider)
    # Each share is sorted already (``plan_provider``), and a share holds one provider.
    changes = apply_guardrails(
        tuple(change for part in ordered for change in part.changes), options
    )
    unmanaged = tuple(job for part in ordered for job in part.unmanaged)
    wanted = tuple(desired)

    def snapshot() -> str:
        observed = {p.provider: p.snapshot_part(options.settle_window) for p in ordered}
        return _snapshot(
            desired_snapshot(wanted, options),
            {provider: part for provider, part in observed.items() if part is not None},
        )

    return Plan(
        changes=changes,
        unmanaged=unmanaged,
        options=options,
        snapshot=snapshot,
        incomplete=tuple(p.incomplete for p in ordered if p.incomplete is not None),
    )


def plan(desired: Sequence[DesiredJob], observed: ObservedState, options: PlanOptions) -> Plan:
    """The plan that makes the providers match ``desired``, given what ``observed`` saw."""
    by_provider = desired_by_provider(desired)
    parts = [
        plan_provider(provider, by_provider.get(provider, []), observation, options)
        for provider in set(by_provider) | set(observed.providers)
        for observation in [observed.providers.get(provider)]
    ]
    return assemble_plan(parts, desired, options)
