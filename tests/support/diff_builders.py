"""Builders of specs, observed jobs and observations for the diff and render tests.

Defaults describe a Segmind Flux Pro job named ``mascot`` with a local folder dataset, of the
repository whose owner id is ``OWNER``; each test overrides what it is about.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.core.observed import ObservedJob, ObservedState, ProviderObservation, RemoteDataset
from reconciler.core.plan import PlanOptions
from reconciler.core.spec import (
    PROVIDERS,
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Provider,
    SourceLocation,
)
from reconciler.naming import marker_for, marker_in_id
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.profile import parse_qubrid_dataset_name

OWNER = "team"
FP_A = hashlib.sha256(b"dataset a").hexdigest()
FP_B = hashlib.sha256(b"dataset b").hexdigest()
DATASET_DIR = Path("/repo/datasets/mascot")

BASE_MODELS: Mapping[Provider, str] = {
    "segmind": "FLUX_PRO",
    "qubrid": "Qwen/Qwen2.5-7B-Instruct",
    "cohere": "command-r-08-2024",
}
STATUS_OK: Mapping[Provider, str] = {
    "segmind": "AVAILABLE",
    "qubrid": "completed",
    "cohere": "STATUS_READY",
}
STATUS_FAILED: Mapping[Provider, str] = {
    "segmind": "FAILED",
    "qubrid": "failed",
    "cohere": "STATUS_FAILED",
}


def spec(
    name: str = "mascot",
    provider: Provider = "segmind",
    *,
    dataset: DatasetRef | None = None,
    parameters: Mapping[str, Any] | None = None,
    set_fields: Iterable[str] | None = None,
    **fields: Any,
) -> FineTuneSpec:
    """A spec; ``set_fields`` defaults to the fields given plus the required ones."""
    if dataset is None:
        suffix = {"segmind": "", "qubrid": ".csv", "cohere": ".jsonl"}[provider]
        kind = DatasetKind.FOLDER if provider == "segmind" else DatasetKind.FILE
        dataset = DatasetRef(kind, f"{DATASET_DIR}{suffix}")
    if provider == "cohere":
        fields.setdefault("base_type", "BASE_TYPE_CHAT")
    if provider == "qubrid":
        fields.setdefault("task_type", "qa")
    written = {"name", "provider", "base_model", "dataset", *fields}
    if parameters is not None:
        written.add("parameters")
    return FineTuneSpec(
        name=name,
        provider=provider,
        base_model=fields.pop("base_model", BASE_MODELS[provider]),
        dataset=dataset,
        source=SourceLocation(Path(f"specs/{name}.yaml"), 1, 1),
        parameters=dict(parameters or {}),
        set_fields=frozenset(written if set_fields is None else set_fields),
        **fields,
    )


def options(**chosen: Any) -> PlanOptions:
    """Plan options of the repository ``OWNER`` (``owner=None``: a repository without one)."""
    chosen.setdefault("owner", OWNER)
    return PlanOptions(**chosen)


def desired(
    the_spec: FineTuneSpec,
    fingerprint: str | None = FP_A,
    size: int | None = 1_234_567,
    owner: str | None = OWNER,
) -> DesiredJob:
    if not the_spec.dataset.is_local:
        return DesiredJob(the_spec, owner=owner)
    return DesiredJob(the_spec, dataset_fingerprint=fingerprint, upload_size=size, owner=owner)


def segmind_url(
    name: str, fingerprint: str, file_id: str = "0f1e2d3c", owner: str | None = OWNER
) -> str:
    marker = marker_for(name, fingerprint, owner)
    return f"https://finetune-pipeline.s3.amazonaws.com/uploads/u-42/{file_id}-{marker}.zip"


def cohere_dataset_id(name: str, fingerprint: str) -> str:
    return f"{marker_for(name, fingerprint)}-x7k2q9"


def job(
    name: str | None = "mascot",
    provider: Provider = "segmind",
    *,
    remote_id: str | None = None,
    status: str | None = None,
    fingerprint: str | None = FP_A,
    dataset_ref: str | None = None,
    created: int | None = None,
    owner: str | None = OWNER,
    **fields: Any,
) -> ObservedJob:
    """An observed job as an adapter reports it: the job list's fields, no parsed marker
    (except Cohere's, which the adapter reads through its dataset list).

    ``owner`` is the owner id its remote name carries (Segmind, Cohere; a Qubrid job's comes
    from its dataset, ``qubrid_dataset``). ``fingerprint`` makes the dataset reference carry
    our marker (Segmind URL, Cohere id); Qubrid jobs reference a dataset id whose name is in
    ``qubrid_dataset``.
    """
    status = status or STATUS_OK[provider]
    if dataset_ref is None and fingerprint is not None and name is not None:
        if provider == "segmind":
            dataset_ref = segmind_url(name, fingerprint, owner=owner)
        elif provider == "cohere":
            dataset_ref = cohere_dataset_id(name, fingerprint)
        else:
            dataset_ref = f"ds-{name}-{fingerprint[:6]}"
    if provider == "segmind":
        fields.setdefault("access", "private")
    if provider == "cohere":
        fields.setdefault("base_type", "BASE_TYPE_CHAT")
        if dataset_ref is not None:
            # The adapter reads the marker from the listed dataset's name; these ids are that
            # name plus a suffix, so the name is known from them here.
            fields.setdefault("marker", marker_in_id(dataset_ref, len("x7k2q9")))
    if provider == "qubrid":
        fields.setdefault("task_type", "qa")
    return ObservedJob(
        provider=provider,
        remote_id=remote_id or f"{provider}-{name}-{created or 0}",
        name=None if provider == "qubrid" else name,
        owner=None if provider == "qubrid" or name is None else owner,
        raw_status=status,
        health=PROFILES[provider].health(status),
        created_at=None if created is None else datetime(2026, 1, 1, 0, created, tzinfo=UTC),
        dataset_ref=dataset_ref,
        base_model=fields.pop("base_model", BASE_MODELS[provider]),
        **fields,
    )


def qubrid_dataset(name: str, fingerprint: str, owner: str | None = OWNER) -> RemoteDataset:
    """The listed Qubrid dataset that ``job(name, "qubrid", fingerprint=...)`` points at."""
    marker = marker_for(name, fingerprint, owner)
    file_name = f"{marker}.csv"
    return RemoteDataset(
        "qubrid", f"ds-{name}-{fingerprint[:6]}", file_name, parse_qubrid_dataset_name(file_name)
    )


def observed(
    *jobs: ObservedJob,
    datasets: Iterable[RemoteDataset] = (),
    incomplete: Mapping[Provider, str] | None = None,
) -> ObservedState:
    """A complete observation of every provider holding ``jobs`` and ``datasets``."""
    datasets = tuple(datasets)
    incomplete = incomplete or {}
    return ObservedState.of(
        *(
            ProviderObservation(
                provider,
                jobs=tuple(j for j in jobs if j.provider == provider),
                datasets=tuple(d for d in datasets if d.provider == provider),
                complete=provider not in incomplete,
                error=incomplete.get(provider),
            )
            for provider in PROVIDERS
        )
    )
