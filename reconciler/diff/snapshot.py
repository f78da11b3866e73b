"""The snapshot: a sha256 over everything a plan's decisions depend on, which ``apply --plan``
works out again to refuse a saved plan when the world has moved since it was made.

Each item (the options, each spec with its dataset's fingerprint and upload size, each observed
job and dataset, each recent write) is one canonical JSON line: its plan-file JSON form
(``reconciler.planfile``) with sorted keys. A job's status enters only as ``_decision_state``
(a job moving from queued to training does not make a plan stale; one that finished, failed or
vanished does). Lines are tagged with their kind and sorted, so the order in which a provider
lists things does not matter. The parts are worked out separately (``desired_snapshot``, one
``observation_snapshot`` per provider) and joined by ``snapshot_digest``, so that a plan made
share by share can compute its snapshot lazily from the same values.

Each item also gets a short hash of its own under a key naming it (``snapshot_items``): a
saved plan carries them, so that ``apply --plan`` can say which spec, dataset or remote job
moved (``reconciler.diff.staleness``) rather than only that something did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from reconciler.core.marker import Marker
from reconciler.core.observed import (
    Health,
    ObservedJob,
    ObservedState,
    ProviderObservation,
    RemoteDataset,
)
from reconciler.core.plan import PlanOptions
from reconciler.core.spec import DesiredJob, Provider
from reconciler.planfile import (
    datetime_to_json,
    marker_to_dict,
    options_to_dict,
    spec_to_dict,
    to_json_value,
)
from reconciler.providers.profiles import PROFILES


def _decision_state(job: ObservedJob) -> str:
    """The part of a job's status the plan's decisions depend on (see ``snapshot_of``)."""
    if job.health is Health.MISSING:
        return "gone"
    if job.health is Health.DEGRADED:
        return "failed"
    return PROFILES[job.provider].decision_state(job)


# The fields of a job and of a dataset the snapshot covers: every field (under the names of
# their JSON form) but a job's raw status, health and error text, for which
# ``_decision_state`` stands, and its outputs, which no decision reads (they come with a
# finished job, which ``_decision_state`` already tells). Taken from the dataclasses so that
# a field added later is covered without anyone remembering to add it here.
_SNAPSHOT_JOB_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ObservedJob)
    if f.name not in ("raw_status", "health", "error_message", "outputs")
)
# A dataset's ``validating`` is left out: whether Cohere has finished validating a dataset
# the plan reuses changes what the apply waits for, not what it does, and a plan saved while
# one validated must not turn stale the moment it has (nor every plan saved before the field).
_SNAPSHOT_DATASET_FIELDS = tuple(
    f.name for f in dataclasses.fields(RemoteDataset) if f.name != "validating"
)
_job_fields = attrgetter(*_SNAPSHOT_JOB_FIELDS)
_dataset_fields = attrgetter(*_SNAPSHOT_DATASET_FIELDS)


@dataclass(frozen=True)
class SnapshotPart:
    """A part of the snapshot: its tagged lines (``text``), and each item it covers by a key
    naming the item, with the line it is hashed from (``keyed``), whose short hashes
    (``items``, see ``Plan.snapshot_items``) are worked out only when asked for: a staleness
    check needs only the digest, unless the plan is stale."""

    text: str
    keyed: tuple[tuple[str, str], ...]

    @property
    def items(self) -> tuple[tuple[str, str], ...]:
        return tuple((key, _short(line)) for key, line in self.keyed)


def snapshot_of(
    desired: Sequence[DesiredJob], observed: ObservedState, options: PlanOptions
) -> str:
    """sha256 over what the plan's decisions depend on: the specs planned (not where they are
    written; a ``{url:}`` dataset whole, query included), their dataset fingerprints and
    upload sizes, the options, and every observed job and dataset with its status reduced to
    ``_decision_state`` (a job moving from queued to training does not make a plan stale; one
    that finished, failed or vanished does).

    Each item is one canonical JSON line, its JSON form (``reconciler.planfile``) with sorted
    keys; a job's and a dataset's are built straight from their fields rather than through
    ``observed_job_to_dict``: the same bytes at a fraction of the cost over thousands of
    jobs. Lines are sorted, so the order in which a provider lists things does not matter."""
    return snapshot_digest(*snapshot_parts(desired, observed, options))


def snapshot_parts(
    desired: Sequence[DesiredJob], observed: ObservedState, options: PlanOptions
) -> tuple[SnapshotPart, dict[Provider, SnapshotPart]]:
    """The parts ``snapshot_of`` is made of, worked out once for both its digest
    (``snapshot_digest``) and its items (``snapshot_items``)."""
    observations = {
        p: observation_snapshot(o, options.settle_window) for p, o in observed.providers.items()
    }
    return desired_snapshot(desired, options), observations


# Options added after plan files were first saved, with their defaults: they enter the
# snapshot only when set, so that a plan saved before them keeps its snapshot and applies.
_LATER_OPTIONS: dict[str, Any] = {"targets": [], "partial": False}


def desired_snapshot(desired: Sequence[DesiredJob], options: PlanOptions) -> SnapshotPart:
    """The part of ``snapshot_of`` the specs planned and the options contribute."""
    chosen = options_to_dict(options)
    for key, default in _LATER_OPTIONS.items():
        if chosen.get(key) == default:
            del chosen[key]
    options_line = _canonical(chosen)
    items = [("options", options_line)]
    specs = []
    for wanted in desired:
        if not options.targeted(wanted.spec.name):
            continue
        spec = spec_to_dict(wanted.spec)
        del spec["source"]
        # The JSON form drops a URL's query; the snapshot must still see it change.
        spec["dataset"]["sha256"] = hashlib.sha256(wanted.spec.dataset.value.encode()).hexdigest()
        spec_line = _canonical(spec)
        local = _canonical(wanted.dataset_fingerprint)
        size = _canonical(wanted.upload_size)
        # The line of ``_canonical([spec, fingerprint, size])``, from its parts.
        specs.append(f"[{spec_line},{local},{size}]")
        key = f"{wanted.spec.provider} {wanted.spec.name}"
        items.append((f"spec {key}", spec_line))
        if wanted.dataset_fingerprint is not None:
            items.append((f"spec-dataset {key}", f"[{local},{size}]"))
    lines = [_tagged("options", options_line)]
    lines.extend(_tagged("desired", line) for line in sorted(specs))
    return SnapshotPart("".join(lines), tuple(items))


def observation_snapshot(observation: ProviderObservation, window: float) -> SnapshotPart:
    """The part of ``snapshot_of`` one provider's observation contributes: its jobs and
    datasets, and the recent writes its list may still not show (those sent less than a
    settle ``window`` before the list began: an older one no longer decides anything)."""
    provider = observation.provider
    head = _canonical([provider, observation.complete])
    items = [(f"provider {provider}", head)]
    jobs = []
    for job in observation.jobs:
        line = _job_line(job)
        jobs.append(line)
        named = f"{job.remote_id} {job.remote_name}" if job.remote_name else job.remote_id
        items.append((f"job {provider} {named}", line))
    datasets = []
    for dataset in observation.datasets:
        line = _dataset_line(dataset)
        datasets.append(line)
        items.append((f"dataset {provider} {dataset.remote_id} {dataset.name}", line))
    listed_at = observation.started_at
    recent = []
    for write in observation.recent:
        if listed_at is not None and listed_at >= write.sent_at + window:
            continue
        line = _canonical(
            [
                write.name,
                write.action.value,
                write.state.value,
                write.sent_at,
                write.remote_id,
                list(write.known_ids),
            ]
        )
        recent.append(line)
        items.append((f"recent {provider} {write.name} {write.sent_at}", line))
    lines = [_tagged("provider", head)]
    lines.extend(_tagged("job", line) for line in sorted(jobs))
    lines.extend(_tagged("dataset", line) for line in sorted(datasets))
    lines.extend(_tagged("recent", line) for line in sorted(recent))
    return SnapshotPart("".join(lines), tuple(items))


def _tagged(kind: str, line: str) -> str:
    # One tagged line per item: no item can pass for another.
    return f"{kind}\t{line}\n"


def _short(line: str) -> str:
    # 12 hex (48 bits) tell one version of an item from another; they prove nothing (the
    # snapshot does), they only say what moved.
    return hashlib.sha256(line.encode()).hexdigest()[:12]


def snapshot_digest(
    desired_part: SnapshotPart, observations: Mapping[Provider, SnapshotPart]
) -> str:
    """The snapshot made of its parts: the specs' and options' (``desired_snapshot``) and each
    observed provider's (``observation_snapshot``), in the providers' order."""
    digest = hashlib.sha256(desired_part.text.encode())
    for provider in sorted(observations):
        digest.update(observations[provider].text.encode())
    return digest.hexdigest()


def snapshot_items(
    desired_part: SnapshotPart, observations: Mapping[Provider, SnapshotPart]
) -> tuple[tuple[str, str], ...]:
    """Every item of the parts with its short hash, sorted by key."""
    items = list(desired_part.items)
    for part in observations.values():
        items.extend(part.items)
    return tuple(sorted(items))


def _job_line(job: ObservedJob) -> str:
    fields = dict(zip(_SNAPSHOT_JOB_FIELDS, _job_fields(job), strict=True))
    fields["state"] = _decision_state(job)
    return _canonical(fields)


def _dataset_line(dataset: RemoteDataset) -> str:
    return _canonical(dict(zip(_SNAPSHOT_DATASET_FIELDS, _dataset_fields(dataset), strict=True)))


def _json_default(value: Any) -> Any:
    """The JSON form (as ``reconciler.planfile`` writes it) of values beyond plain JSON types."""
    if isinstance(value, datetime):
        return datetime_to_json(value)
    if isinstance(value, Marker):
        return marker_to_dict(value)
    if isinstance(value, Mapping | set | frozenset | Path):
        return to_json_value(value)
    return str(value)


_encode_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=_json_default
).encode


def _canonical(value: Any) -> str:
    return _encode_canonical(value)
