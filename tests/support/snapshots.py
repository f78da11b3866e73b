"""A desired state and an observed one, and the plan snapshot as first written (one value at a
time), shared by the tests of the plan's parts and of its lazily computed snapshot."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
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
from reconciler.core.spec import (
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Provider,
    SourceLocation,
)
from reconciler.planfile import (
    observed_job_to_dict,
    options_to_dict,
    remote_dataset_to_dict,
    spec_to_dict,
)

FP = "0123456789ab" + "c" * 52


WHEN = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


def spec(name: str, provider: Provider, dataset: DatasetRef) -> FineTuneSpec:
    return FineTuneSpec(
        name=name,
        provider=provider,
        base_model="m",
        dataset=dataset,
        source=SourceLocation(Path(f"{name}.yaml"), 1, 1),
        task_type="qa" if provider == "qubrid" else None,
        parameters={"epochs": 2, "learning_rate": 1e-4},
        set_fields=frozenset({"name", "provider", "base_model", "dataset"}),
    )


def desired() -> list[DesiredJob]:
    local = DatasetRef(DatasetKind.FILE, "/repo/datasets/a.csv")
    return [
        DesiredJob(spec("alpha", "qubrid", local), dataset_fingerprint=FP, upload_size=10),
        DesiredJob(
            spec("beta", "cohere", DatasetRef(DatasetKind.ID, "beta-rc0123456789ab-x1y2z3"))
        ),
        DesiredJob(
            spec("gamma", "segmind", DatasetRef(DatasetKind.URL, "https://x.test/g.zip?s=1"))
        ),
    ]


def observed() -> ObservedState:
    qubrid = ProviderObservation(
        "qubrid",
        jobs=(
            ObservedJob(
                "qubrid",
                "job-1",
                None,
                "running",
                Health.PROGRESSING,
                created_at=WHEN,
                sequence=2,
                dataset_ref="ds-1",
                model_id="model-1",
                base_model="m",
                task_type="qa",
                parameters={"learning_rate": 0.0001, "epochs": 2},
            ),
            ObservedJob("qubrid", "job-0", None, "failed", Health.DEGRADED, error_message="oom"),
        ),
        datasets=(
            RemoteDataset(
                "qubrid", "ds-1", f"alpha-rc{FP[:12]}.csv", Marker("alpha", FP[:12]), 10, WHEN
            ),
            RemoteDataset("qubrid", "ds-2", "legacy.csv"),
        ),
    )
    cohere = ProviderObservation(
        "cohere",
        jobs=(
            ObservedJob(
                "cohere",
                "model-9",
                "beta",
                "STATUS_READY",
                Health.HEALTHY,
                created_at=WHEN,
                dataset_ref="beta-rc0123456789ab-x1y2z3",
                marker=Marker("beta", "0123456789ab"),
                wandb={"project": "p", "entity": "e"},
            ),
        ),
    )
    segmind = ProviderObservation("segmind", complete=False, error="segmind: down (HTTP 503)")
    return ObservedState.of(qubrid, cohere, segmind)


def reference_snapshot(wanted: list[DesiredJob], state: ObservedState, options: PlanOptions) -> str:
    """The snapshot as first written: through each value's JSON form, one line at a time."""
    digest = hashlib.sha256()

    def canonical(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)

    def feed(kind: str, line: str) -> None:
        digest.update(f"{kind}\t{line}\n".encode())

    chosen = options_to_dict(options)
    # Options added later (--target, some PATHs) enter only when set: a plan saved before them
    # keeps its snapshot.
    for later, default in (("targets", []), ("partial", False)):
        if chosen[later] == default:
            del chosen[later]
    feed("options", canonical(chosen))
    specs = []
    for one in wanted:
        data = spec_to_dict(one.spec)
        del data["source"]
        data["dataset"]["sha256"] = hashlib.sha256(one.spec.dataset.value.encode()).hexdigest()
        specs.append(canonical([data, one.dataset_fingerprint, one.upload_size]))
    for line in sorted(specs):
        feed("desired", line)
    states = {Health.MISSING: "gone", Health.DEGRADED: "failed"}
    for provider in sorted(state.providers):
        observation = state.providers[provider]
        feed("provider", canonical([provider, observation.complete]))
        jobs = []
        for job in observation.jobs:
            data = observed_job_to_dict(job)
            for key in ("raw_status", "health", "error_message", "outputs"):
                del data[key]
            decision = states.get(job.health, "live")
            if job.provider == "qubrid" and decision == "live":
                status = job.raw_status.strip().lower()
                decision = "active" if status in ("queued", "running") else status
            data["state"] = decision
            jobs.append(canonical(data))
        for line in sorted(jobs):
            feed("job", line)
        datasets = [remote_dataset_to_dict(d) for d in observation.datasets]
        for data in datasets:
            del data["validating"]  # what the apply waits for, not what it does
        for line in sorted(canonical(data) for data in datasets):
            feed("dataset", line)
    return digest.hexdigest()
