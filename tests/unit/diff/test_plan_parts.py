"""The plan made in shares (one per provider, joined) and its snapshot, built the cheap way,
are exactly what the straightforward forms give."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from reconciler.config import load_settings
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
from reconciler.diff import identify_jobs, plan, snapshot_of
from reconciler.diff.decide import reusable_datasets
from reconciler.observing import observe_all
from reconciler.planfile import (
    observed_job_to_dict,
    options_to_dict,
    remote_dataset_to_dict,
    spec_to_dict,
)
from reconciler.planning import make_plan
from reconciler.providers.base import ProviderClient
from reconciler.providers.segmind.adapter import parse_job_list

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

    feed("options", canonical(options_to_dict(options)))
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
            for key in ("raw_status", "health", "error_message"):
                del data[key]
            decision = states.get(job.health, "live")
            if job.provider == "qubrid" and decision == "live":
                status = job.raw_status.strip().lower()
                decision = "active" if status in ("queued", "running") else status
            data["state"] = decision
            jobs.append(canonical(data))
        for line in sorted(jobs):
            feed("job", line)
        for line in sorted(canonical(remote_dataset_to_dict(d)) for d in observation.datasets):
            feed("dataset", line)
    return digest.hexdigest()


def test_the_snapshot_is_byte_for_byte_the_json_form_one() -> None:
    for options in (PlanOptions(), PlanOptions(prune=True, allow_replace=True)):
        assert snapshot_of(desired(), observed(), options) == reference_snapshot(
            desired(), observed(), options
        )


class FixedObserver:
    """A client whose list returns a fixed observation after a pause."""

    def __init__(self, observation: ProviderObservation, pause: float) -> None:
        self.name = observation.provider
        self.observation = observation
        self.pause = pause
        self.threads: set[int] = set()

    def observe(self) -> ProviderObservation:
        self.threads.add(threading.get_ident())
        time.sleep(self.pause)
        return self.observation


def test_make_plan_is_the_diff_of_what_observe_all_sees(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    pauses = {"qubrid": 0.15, "cohere": 0.0, "segmind": 0.05}
    clients: dict[Provider, ProviderClient] = {
        p: FixedObserver(o, pauses[p])  # type: ignore[misc]
        for p, o in observed().providers.items()
    }

    def unstamped(state: ObservedState) -> ObservedState:
        # Each listing is stamped with the moment it began; two listings begin apart.
        return ObservedState.of(*(replace(o, started_at=None) for o in state.providers.values()))

    for options in (PlanOptions(), PlanOptions(prune=True, retry_failed=True)):
        made = make_plan(settings, desired(), clients, options)
        state = observe_all(clients)
        assert all(o.started_at is not None for o in state.providers.values())
        assert unstamped(made.observed) == unstamped(state)
        assert list(made.observed.providers) == list(state.providers)
        assert made.plan == plan(desired(), state, options)
    # A provider a spec names but no client observes is planned as not observed.
    only_cohere: dict[Provider, ProviderClient] = {"cohere": clients["cohere"]}
    made = make_plan(settings, desired(), only_cohere, PlanOptions())
    assert made.plan == plan(desired(), observe_all(only_cohere), PlanOptions())
    assert {i.provider for i in made.plan.incomplete} == {"qubrid", "segmind"}


def test_the_reusable_dataset_is_the_newest_usable_one_of_its_marker() -> None:
    marker = Marker("alpha", FP[:12])
    older = RemoteDataset("cohere", "d-old", "alpha", marker, created_at=WHEN)
    newer = RemoteDataset("cohere", "d-new", "alpha", marker, created_at=WHEN.replace(year=2027))
    broken = RemoteDataset(
        "cohere", "d-bad", "alpha", marker, created_at=WHEN.replace(year=2028), usable=False
    )
    undated = RemoteDataset("cohere", "d-undated", "alpha", marker)
    assert reusable_datasets([older, broken, newer, undated]) == {marker: newer}
    assert reusable_datasets([broken]) == {}


def test_a_percent_escaped_marker_in_a_segmind_url_is_still_recognised() -> None:
    url = f"https://bucket.test/uploads/u/file1-my-job%2Drc{FP[:12]}.zip"
    body = [{"id": "r1", "name": "my-job", "status": "AVAILABLE", "data_source_path": url}]
    [listed] = parse_job_list(httpx.Response(200, json=body))
    assert listed.marker == Marker("my-job", FP[:12])
    bare = ObservedJob("segmind", "r1", "my-job", "AVAILABLE", Health.HEALTHY, dataset_ref=url)
    [identified] = identify_jobs(ProviderObservation("segmind", jobs=(bare,)))
    assert identified.marker == Marker("my-job", FP[:12])
