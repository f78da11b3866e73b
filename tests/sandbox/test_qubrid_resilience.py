"""The Qubrid emulator under faults, concurrency and restarts: what a client sees.

Every response a client reads goes through ``checked_client`` and is validated against
``qubrid-openapi.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.qubrid.api import PROVIDER
from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from tests.sandbox.qubrid_support import (
    QUEUED_SECONDS,
    TRAINING_SECONDS,
    checked_client,
    create_job,
    created_job,
    get_job,
    uploaded_dataset,
)


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


def test_a_create_whose_response_is_lost_is_committed_and_listed(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    dataset = uploaded_dataset(api)
    sandbox.control.add_fault(
        kind="lost_response", provider="qubrid", method="POST", path="/fine-tuning/jobs", count=1
    )

    with pytest.raises(httpx.RemoteProtocolError):
        create_job(api, dataset["id"], suffix="lost-one")
    listed = api.get("/fine-tuning/jobs").json()

    assert listed["total"] == 1
    assert listed["data"][0]["dataset_id"] == dataset["id"]


def test_a_dropped_upload_stores_nothing(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.add_fault(
        kind="drop", provider="qubrid", method="POST", path="/fine-tuning/datasets", count=1
    )

    # Dropped before the handler read the file: when part of the body is still unread (or
    # still on its way), the kernel answers the close with a reset instead of an end of stream.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        uploaded_dataset(api)

    assert api.get("/fine-tuning/datasets").json() == {"data": []}


def test_rate_limited_requests_carry_retry_after(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(
        kind="rate_limit", provider="qubrid", path="/fine-tuning/jobs/*", retry_after=7, count=1
    )

    limited = api.get("/fine-tuning/jobs/ftjob-x")
    after = api.get("/fine-tuning/jobs/ftjob-x")

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert after.status_code == 404


def test_concurrent_creates_spend_credits_exactly(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    dataset = uploaded_dataset(api)
    sandbox.control.http.put("/qubrid/credits", json={"credits": 5})

    def create(_: int) -> int:
        with checked_client(sandbox) as client:
            return create_job(client, dataset["id"]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(12)))

    assert sorted(statuses) == [201] * 5 + [402] * 7
    assert api.get("/fine-tuning/jobs").json()["total"] == 5


def test_concurrent_creates_get_distinct_jobs(api: httpx.Client, sandbox: RunningSandbox) -> None:
    dataset = uploaded_dataset(api)

    def create(_: int) -> str:
        with checked_client(sandbox) as client:
            job_id: str = created_job(client, dataset["id"])["id"]
            return job_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(create, range(40)))

    listed = api.get("/fine-tuning/jobs", params={"limit": 100}).json()
    assert len(set(ids)) == 40
    assert {job["id"] for job in listed["data"]} == set(ids)


def test_jobs_datasets_and_models_survive_a_restart(tmp_path: Path) -> None:
    with (
        start_sandbox(data_dir=tmp_path, providers=[PROVIDER]) as first,
        checked_client(first) as client,
    ):
        dataset = uploaded_dataset(client)
        finished = created_job(client, dataset["id"])
        first.control.advance("qubrid", "jobs", finished["id"], to="completed")
        running = created_job(client, dataset["id"])
        before = get_job(client, finished["id"])

    with (
        start_sandbox(data_dir=tmp_path, providers=[PROVIDER]) as second,
        checked_client(second) as client,
    ):
        after = get_job(client, finished["id"])
        stored = client.get(f"/fine-tuning/datasets/{dataset['id']}").json()
        models = client.get("/fine-tuning/models").json()["data"]
        second.control.advance_clock(QUEUED_SECONDS + TRAINING_SECONDS)
        resumed = get_job(client, running["id"])

    assert after == before
    assert stored == dataset
    assert [model["id"] for model in models] == [before["fine_tuned_model"]]
    assert resumed["status"] == "completed"
