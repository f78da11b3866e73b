"""The plan made in shares (one per provider, joined) and its snapshot, built the cheap way,
are exactly what the straightforward forms give."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

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
    Provider,
)
from reconciler.diff import identify_jobs, plan, snapshot_of
from reconciler.diff.decide import reusable_datasets
from reconciler.observing import observe_all
from reconciler.planning import make_plan
from reconciler.providers.base import ProviderClient
from reconciler.providers.segmind.adapter import parse_job_list
from tests.support.snapshots import FP, WHEN, desired, observed, reference_snapshot


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


def test_a_dataset_still_validating_is_reused_but_a_validated_one_comes_first() -> None:
    # An apply killed while Cohere validated its upload leaves it validating: the next run
    # waits for it rather than upload it again.
    marker = Marker("alpha", FP[:12])
    validated = RemoteDataset("cohere", "d-ok", "alpha", marker, created_at=WHEN)
    validating = RemoteDataset(
        "cohere", "d-busy", "alpha", marker, created_at=WHEN.replace(year=2027), validating=True
    )
    assert reusable_datasets([validating]) == {marker: validating}
    assert reusable_datasets([validating, validated]) == {marker: validated}


def test_a_percent_escaped_marker_in_a_segmind_url_is_still_recognised() -> None:
    url = f"https://bucket.test/uploads/u/file1-my-job%2Drc{FP[:12]}.zip"
    body = [{"id": "r1", "name": "my-job", "status": "AVAILABLE", "data_source_path": url}]
    [listed] = parse_job_list(httpx.Response(200, json=body))
    assert listed.marker == Marker("my-job", FP[:12])
    bare = ObservedJob("segmind", "r1", "my-job", "AVAILABLE", Health.HEALTHY, dataset_ref=url)
    [identified] = identify_jobs(ProviderObservation("segmind", jobs=(bare,)))
    assert identified.marker == Marker("my-job", FP[:12])
