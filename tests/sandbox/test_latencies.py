"""The sandbox's settable latencies: how long a Cohere dataset's validation takes, on the
simulated clock, set at start or through the control API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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
from tests.support.sandbox_command import start_sandbox_command


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


def test_reconcile_sandbox_starts_with_the_latencies_it_is_given(tmp_path: Path) -> None:
    server = start_sandbox_command(tmp_path / "state", "--latency", "cohere.datasets=4")
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # "# reconcile sandbox: serving on http://…"
        url = re.search(r"serving on (http://\S+)", first)
        assert url is not None, first + (server.stderr.read() if server.stderr else "")
        latencies = httpx.get(f"{url.group(1)}/_sandbox/latencies", timeout=10).json()
        assert latencies["latencies"]["cohere.datasets"]["seconds"] == 4.0
    finally:
        server.terminate()
        server.communicate(timeout=10)


@pytest.mark.parametrize(
    ("latency", "said"),
    [
        ("cohere.datasets", "a latency is PROVIDER.KIND=SECONDS"),
        ("cohere.datasets=-1", "a latency is PROVIDER.KIND=SECONDS"),
        ("cohere.datasets=soon", "a latency is PROVIDER.KIND=SECONDS"),
        ("cohere.models=4", "no latency 'cohere.models'; this sandbox has: cohere.datasets"),
    ],
)
def test_reconcile_sandbox_refuses_a_latency_it_cannot_take(
    tmp_path: Path, latency: str, said: str
) -> None:
    server = start_sandbox_command(tmp_path / "state", "--latency", latency)
    _, stderr = server.communicate(timeout=60)
    assert server.returncode == 1
    assert stderr.startswith("reconcile: --latency ") and said in stderr, stderr
    assert "Traceback" not in stderr
