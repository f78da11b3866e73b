"""The sandbox's settable latencies: how long a Cohere dataset's validation takes, on the
simulated clock, set at start or through the control API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox, SandboxControlError, start_sandbox
from tests.sandbox.cohere_support import (
    DATASET_VALIDATION_SECONDS,
    chat_jsonl,
    checked_client,
    dataset,
    upload,
)


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


def status_after(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str, seconds: float
) -> str:
    sandbox.control.advance_clock(seconds)
    return str(dataset(api, dataset_id)["validation_status"])


def test_a_dataset_validation_takes_the_latency_set_through_the_control_api(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    assert sandbox.control.latencies()["cohere.datasets"] == {
        "seconds": DATASET_VALIDATION_SECONDS,
        "default": DATASET_VALIDATION_SECONDS,
    }
    sandbox.control.set_latencies(**{"cohere.datasets": 40.0})
    dataset_id = upload(api, chat_jsonl())
    # Stretched in proportion: queued for 2/7 of it, processing for the rest.
    assert status_after(sandbox, api, dataset_id, 10.0) == "queued"
    assert status_after(sandbox, api, dataset_id, 20.0) == "processing"
    assert status_after(sandbox, api, dataset_id, 9.5) == "processing"
    assert status_after(sandbox, api, dataset_id, 0.5) == "validated"


def test_a_shorter_latency_applies_at_once_to_datasets_still_validating(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    dataset_id = upload(api, chat_jsonl())
    assert status_after(sandbox, api, dataset_id, 3.0) == "processing"
    sandbox.control.set_latencies(**{"cohere.datasets": 2.0})
    assert dataset(api, dataset_id)["validation_status"] == "validated"
    # A reset brings back the latency the sandbox started with.
    sandbox.control.reset("cohere")
    assert sandbox.control.latencies()["cohere.datasets"]["seconds"] == DATASET_VALIDATION_SECONDS


def test_a_latency_is_set_at_start_and_a_wrong_one_is_refused_with_what_to_send() -> None:
    with (
        start_sandbox(latencies={"cohere.datasets": 0.0}) as running,
        checked_client(running) as api,
    ):
        assert dataset(api, upload(api, chat_jsonl()))["validation_status"] == "validated"
        with pytest.raises(
            SandboxControlError, match=r"no latency 'cohere\.models'.*cohere\.datasets"
        ):
            running.control.set_latencies(**{"cohere.models": 1.0})
        with pytest.raises(SandboxControlError, match="0 or more seconds"):
            running.control.set_latencies(**{"cohere.datasets": -1.0})
        assert running.control.latencies()["cohere.datasets"]["seconds"] == 0.0
