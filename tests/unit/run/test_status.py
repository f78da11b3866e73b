"""`reconcile status` read off a plan: sync and health per managed job, in three renderings."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core.observed import Health, ObservedJob, ObservedState, ProviderObservation
from reconciler.core.plan import IncompleteProvider, PlanOptions
from reconciler.core.spec import (
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Provider,
    SourceLocation,
)
from reconciler.diff import plan
from reconciler.status import Sync, job_statuses
from reconciler.views.markdown import CELL_LIMIT
from reconciler.views.status import (
    render_status_json,
    render_status_markdown,
    render_status_text,
)


def spec(name: str, access: str = "private", provider: Provider = "segmind") -> DesiredJob:
    return DesiredJob(
        FineTuneSpec(
            name=name,
            provider=provider,
            base_model="FLUX",
            dataset=DatasetRef(DatasetKind.URL, f"https://data.invalid/{name}.zip"),
            source=SourceLocation(Path("specs/x.yaml"), 1, 1),
            access="public" if access == "public" else "private",
            set_fields=frozenset({"access"}),
        )
    )


def job(name: str, access: str, health: Health, status: str) -> ObservedJob:
    return ObservedJob(
        provider="segmind",
        remote_id=f"id-{name}",
        name=name,
        raw_status=status,
        health=health,
        access="public" if access == "public" else "private",
    )


def test_sync_and_health_of_each_managed_job() -> None:
    observation = ProviderObservation(
        "segmind",
        jobs=(
            job("synced", "private", Health.HEALTHY, "AVAILABLE"),
            job("drifted", "private", Health.PROGRESSING, "TRAINING_INITIATED"),
            job("failed", "private", Health.DEGRADED, "FAILED"),
            job("nobody-names-me", "private", Health.HEALTHY, "AVAILABLE"),
        ),
    )
    desired = [spec("synced"), spec("drifted", "public"), spec("failed"), spec("missing")]
    statuses = {
        s.name: s for s in job_statuses(plan(desired, ObservedState.of(observation), PlanOptions()))
    }
    assert set(statuses) == {"synced", "drifted", "failed", "missing"}
    assert (statuses["synced"].sync, statuses["synced"].health) == (Sync.SYNCED, Health.HEALTHY)
    assert (statuses["drifted"].sync, statuses["drifted"].health) == (
        Sync.OUT_OF_SYNC,
        Health.PROGRESSING,
    )
    assert statuses["drifted"].detail.startswith("update: access is private")
    assert (statuses["failed"].sync, statuses["failed"].health) == (Sync.SYNCED, Health.DEGRADED)
    assert (statuses["missing"].sync, statuses["missing"].health) == (
        Sync.OUT_OF_SYNC,
        Health.MISSING,
    )
    assert statuses["missing"].remote_id is None


def test_a_provider_that_could_not_be_read_shows_unknown_health() -> None:
    observation = ProviderObservation("segmind", complete=False, error="HTTP 401")
    result = plan([spec("a")], ObservedState.of(observation), PlanOptions())
    (status,) = job_statuses(result)
    assert status.health is Health.UNKNOWN
    text = render_status_text([status], result.incomplete)
    assert "! segmind: could not be read (HTTP 401)" in text
    document = json.loads(render_status_json([status], result.incomplete))
    assert document["incomplete"] == [
        {"provider": "segmind", "error": "HTTP 401", "refused": False}
    ]


def test_a_provider_that_refuses_the_service_is_said_once() -> None:
    refusal = "Segmind stopped fine-tuning; move these specs"
    observation = ProviderObservation("segmind", complete=False, error="x", refused=refusal)
    result = plan([spec("a"), spec("b")], ObservedState.of(observation), PlanOptions())
    statuses = job_statuses(result)
    assert {status.health for status in statuses} == {Health.UNKNOWN}
    text = render_status_text(statuses, result.incomplete)
    assert text.count(refusal) == 1
    assert f"! segmind: {refusal}" in text and "could not be read" not in text
    assert render_status_markdown(statuses, result.incomplete).count(refusal) == 1
    document = json.loads(render_status_json(statuses, result.incomplete))
    assert document["incomplete"] == [{"provider": "segmind", "error": refusal, "refused": True}]


def test_the_three_renderings() -> None:
    observation = ProviderObservation(
        "segmind", jobs=(job("a", "private", Health.HEALTHY, "AVAILABLE"),)
    )
    statuses = job_statuses(plan([spec("a")], ObservedState.of(observation), PlanOptions()))
    text = render_status_text(statuses)
    assert text.splitlines()[1].split()[:5] == ["segmind", "a", "Synced", "Healthy", "id-a"]
    assert text.endswith("Status: 1 managed jobs; 1 synced, 0 out of sync; 1 healthy\n")
    markdown = render_status_markdown(statuses, [IncompleteProvider("qubrid", "HTTP 503")])
    assert "| segmind | `a` | Synced | Healthy | `id-a` | - | in sync; AVAILABLE |" in markdown
    assert "> ! qubrid: could not be read (HTTP 503)" in markdown
    document = json.loads(render_status_json(statuses))
    assert document["format_version"] == 1
    assert document["jobs"][0] == {
        "provider": "segmind",
        "name": "a",
        "sync": "Synced",
        "health": "Healthy",
        "remote_id": "id-a",
        "remote_status": "AVAILABLE",
        "detail": "in sync; AVAILABLE",
        "outputs": {"model_id": None, "weights_url": None, "slug": None},
    }


def test_markdown_bounds_a_huge_read_error_as_the_plan_does() -> None:
    markdown = render_status_markdown([], [IncompleteProvider("qubrid", "y" * 10_000)])
    assert f"> ! qubrid: could not be read ({'y' * (CELL_LIMIT - 1)}…)" in markdown
    assert "y" * CELL_LIMIT not in markdown
