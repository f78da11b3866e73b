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
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
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
# ``_decision_state`` stands. Taken from the dataclasses so that a field added later is
# covered without anyone remembering to add it here.
_SNAPSHOT_JOB_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ObservedJob)
    if f.name not in ("raw_status", "health", "error_message")
)
# A dataset's ``validating`` is left out: whether Cohere has finished validating a dataset
# the plan reuses changes what the apply waits for, not what it does, and a plan saved while
# one validated must not turn stale the moment it has (nor every plan saved before the field).
_SNAPSHOT_DATASET_FIELDS = tuple(
    f.name for f in dataclasses.fields(RemoteDataset) if f.name != "validating"
)
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

    Each item is one canonical JSON line, its JSON form (``reconciler.planfile``) with sorted
    keys; a job's and a dataset's are built straight from their fields rather than through
    ``observed_job_to_dict``: the same bytes at a fraction of the cost over thousands of
    jobs. Lines are sorted, so the order in which a provider lists things does not matter."""
    observations = {
        p: observation_snapshot(o, options.settle_window) for p, o in observed.providers.items()
    }
    return snapshot_digest(desired_snapshot(desired, options), observations)


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


def snapshot_digest(desired_part: str, observations: Mapping[Provider, str]) -> str:
    """The snapshot made of its parts: the specs' and options' (``desired_snapshot``) and each
    observed provider's (``observation_snapshot``), in the providers' order."""
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
