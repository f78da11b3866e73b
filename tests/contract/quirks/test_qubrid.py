"""The Qubrid adapter against the sandbox over real HTTP (CONTRACTS.md §B)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.action import Action
from reconciler.core.observed import Health
from reconciler.core.plan import Change, DeleteMethod
from reconciler.diff import identify_jobs
from reconciler.naming import marker_for
from reconciler.providers.base import (
    AccessUpdater,
    AuthenticationError,
    OutcomeUnknownError,
    PermanentError,
)
from reconciler.providers.http import RetryPolicy
from reconciler.providers.profiles import PROFILES
from tests.support.providers import (
    OWNER,
    SENTINEL_KEYS,
    RecordingSleep,
    assert_no_secret,
    fast_policy,
    qa_csv,
    requests_made,
    upload_for,
)
from tests.support.qubrid import BASE_MODEL, client_for, converge_one, qa_job

BASE = "/qubrid/api/v1/fine-tuning"


def job_requests(sandbox: RunningSandbox, method: str = "GET") -> int:
    return requests_made(sandbox, method, f"{BASE}/jobs")


# Observe ----------------------------------------------------------------------------------


def test_observe_maps_every_field(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    done = qa_job(qa_csv(tmp_path, name="a.csv"), "done-bot")
    done_id, done_dataset = converge_one(client, done)
    sandbox.control.advance_clock(1)
    failed_id, _ = converge_one(client, qa_job(qa_csv(tmp_path, 7, "b.csv"), "failed-bot"))
    sandbox.control.advance_clock(1)
    gone_id, _ = converge_one(client, qa_job(qa_csv(tmp_path, 9, "c.csv"), "gone-bot"))
    sandbox.control.advance("qubrid", "jobs", done_id, to="completed")
    sandbox.control.advance("qubrid", "jobs", gone_id, to="completed")
    sandbox.control.advance_clock(120)  # both models deployed
    sandbox.control.fail("qubrid", "jobs", failed_id, "CUDA out of memory")
    gone_model = sandbox.control.get("qubrid", "jobs", gone_id)["row"]["fine_tuned_model"]
    client.delete(
        Change(
            Action.DELETE,
            "qubrid",
            "gone-bot",
            "pruned",
            target_id=gone_model,
            delete_method=DeleteMethod.DELETE_MODEL,
        )
    )

    observation = client.observe()

    assert observation.complete and observation.error is None
    by_id = {job.remote_id: job for job in observation.jobs}
    assert set(by_id) == {done_id, failed_id, gone_id}
    job = by_id[done_id]
    assert job.provider == "qubrid"
    assert job.name is None  # Qubrid jobs have no name: it comes from the dataset
    assert (job.raw_status, job.health) == ("completed", Health.HEALTHY)
    assert job.dataset_ref == done_dataset
    assert job.model_id == sandbox.control.get("qubrid", "jobs", done_id)["row"]["fine_tuned_model"]
    assert job.base_model == BASE_MODEL
    assert job.task_type == "qa"
    assert job.parameters is not None
    assert (job.parameters["epochs"], job.parameters["learning_rate"]) == (2, 0.0001)
    assert job.created_at is not None and job.created_at.tzinfo is not None
    assert job.error_message is None
    assert (by_id[failed_id].health, by_id[failed_id].error_message) == (
        Health.DEGRADED,
        "CUDA out of memory",
    )
    # The job still says completed; only the model list shows the model deleted.
    assert (by_id[gone_id].raw_status, by_id[gone_id].health) == ("completed", Health.MISSING)
    assert by_id[gone_id].sequence > by_id[failed_id].sequence > job.sequence
    datasets = {d.remote_id: d for d in observation.datasets}
    dataset = datasets[done_dataset]
    assert done.dataset_fingerprint is not None
    assert dataset.marker == marker_for("done-bot", done.dataset_fingerprint, OWNER)
    assert dataset.name == upload_for(done).remote_name
    assert dataset.size_bytes == (tmp_path / "a.csv").stat().st_size
    assert dataset.created_at is not None
    # The diff names each job through its dataset's marker.
    names = {j.remote_id: j.name for j in identify_jobs(observation)}
    assert names == {done_id: "done-bot", failed_id: "failed-bot", gone_id: "gone-bot"}


def test_observe_reads_every_page_and_only_the_lists(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("qubrid", 250)
    sandbox.control.clear_requests()

    observation = client_for(sandbox, fast_retry).observe()

    assert observation.complete
    assert len({job.remote_id for job in observation.jobs}) == 250
    assert len(observation.datasets) == 250
    assert sandbox.control.request_counts() == {
        f"GET {BASE}/jobs": 3,
        f"GET {BASE}/datasets": 1,
        f"GET {BASE}/models": 1,
    }
    health = {job.health for job in observation.jobs}
    assert {Health.HEALTHY, Health.DEGRADED, Health.MISSING, Health.PENDING} <= health


def test_a_failing_page_is_retried_and_a_dead_one_makes_the_observation_incomplete(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("qubrid", 150)
    sandbox.control.clear_requests()
    sandbox.control.add_fault(kind="drop", provider="qubrid", path="/fine-tuning/jobs", count=1)
    client = client_for(sandbox, fast_retry)
    assert len(client.observe().jobs) == 150
    assert job_requests(sandbox) == 3

    sandbox.control.add_fault(kind="error", provider="qubrid", path="/fine-tuning/models")
    observation = client.observe()
    assert not observation.complete and observation.jobs == ()
    assert observation.error is not None and "listing fine-tuned models" in observation.error


# Upload and create ------------------------------------------------------------------------


class _Inspecting(httpx.BaseTransport):
    """Records each dataset upload's headers and whether its body was already in memory."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.uploads: list[tuple[httpx.Headers, bool]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/fine-tuning/datasets"):
            try:
                _ = request.content
                in_memory = True
            except httpx.RequestNotRead:
                in_memory = False
            self.uploads.append((request.headers, in_memory))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_upload_streams_the_csv_with_its_exact_length(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    csv = qa_csv(tmp_path, rows=40_000)  # about 1.2 MB
    desired = qa_job(csv)
    transport = _Inspecting()

    dataset_id = client_for(sandbox, fast_retry, transport=transport).upload_dataset(
        upload_for(desired), desired
    )

    ((headers, in_memory),) = transport.uploads
    assert in_memory is False  # a stream, not a body read into memory
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) > csv.stat().st_size
    stored = sandbox.control.get("qubrid", "datasets", dataset_id)["row"]
    assert stored["size_bytes"] == csv.stat().st_size
    assert stored["row_count"] == 40_000
    assert stored["name"] == upload_for(desired).remote_name


def test_create_returns_the_id_and_sends_the_marker_as_suffix(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = qa_job(qa_csv(tmp_path), parameters={"epochs": 4, "max_steps": 50})

    job_id, dataset_id = converge_one(client, desired)

    row = sandbox.control.get("qubrid", "jobs", job_id)["row"]
    assert desired.dataset_fingerprint is not None
    assert row["suffix"] == str(marker_for("support-bot", desired.dataset_fingerprint))
    assert (row["dataset_id"], row["task_type"], row["base_model"]) == (
        dataset_id,
        "qa",
        BASE_MODEL,
    )
    assert row["epochs"] == 4
    assert requests_made(sandbox, "POST", f"{BASE}/jobs") == 1


def test_refused_create_carries_qubrid_s_message(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    desired = qa_job(qa_csv(tmp_path))
    with pytest.raises(PermanentError) as raised:
        client_for(sandbox, fast_retry).create(desired, "ds-does-not-exist")
    assert raised.value.status == 400
    assert "ds-does-not-exist" in raised.value.message and "dataset_not_found" in str(raised.value)
    assert str(raised.value).startswith("qubrid/support-bot: creating the fine-tuning job")


def test_upload_refuses_a_file_that_changed_since_the_plan(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    csv = qa_csv(tmp_path)
    desired = qa_job(csv)
    with csv.open("a") as handle:
        handle.write("one more?,row\n")
    with pytest.raises(PermanentError, match="plan again"):
        client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)
    assert requests_made(sandbox, "POST", f"{BASE}/datasets") == 0


@pytest.mark.parametrize("path", ["/fine-tuning/jobs", "/fine-tuning/datasets"])
def test_lost_response_on_a_write_is_outcome_unknown_and_not_resent(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, path: str
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = qa_job(qa_csv(tmp_path))
    dataset_id = client.upload_dataset(upload_for(desired), desired) if "jobs" in path else ""
    sandbox.control.add_fault(
        kind="lost_response", method="POST", provider="qubrid", path=path, count=1
    )

    with pytest.raises(OutcomeUnknownError):
        if dataset_id:
            client.create(desired, dataset_id)
        else:
            client.upload_dataset(upload_for(desired), desired)

    assert requests_made(sandbox, "POST", f"/qubrid/api/v1{path}") == 1
    observation = client.observe()
    listed = observation.jobs if "jobs" in path else observation.datasets
    assert len(listed) == 1  # it committed once, and only once


def test_429_then_success_creates_one_job(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = qa_job(qa_csv(tmp_path))
    dataset_id = client.upload_dataset(upload_for(desired), desired)
    sandbox.control.add_fault(
        kind="rate_limit",
        method="POST",
        provider="qubrid",
        path="/fine-tuning/jobs",
        retry_after=0.1,
        count=1,
    )

    job_id = client.create(desired, dataset_id)

    assert [job.remote_id for job in client.observe().jobs] == [job_id]
    assert requests_made(sandbox, "POST", f"{BASE}/jobs") == 2


# Delete -----------------------------------------------------------------------------------


def test_cancel_a_running_job(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, qa_job(qa_csv(tmp_path)))
    sandbox.control.advance("qubrid", "jobs", job_id, to="running")
    change = Change(
        Action.DELETE,
        "qubrid",
        "support-bot",
        "pruned",
        target_id=job_id,
        delete_method=DeleteMethod.CANCEL_JOB,
    )

    client.delete(change)
    client.delete(change)  # again: a finished job is left as it is

    (job,) = client.observe().jobs
    assert (job.raw_status, job.health) == ("cancelled", Health.MISSING)
    assert requests_made(sandbox, "POST", f"{BASE}/jobs/{job_id}/cancel") == 2


def test_delete_a_completed_job_s_model_once_even_if_asked_twice(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, qa_job(qa_csv(tmp_path)))
    sandbox.control.advance("qubrid", "jobs", job_id, to="completed")
    sandbox.control.advance_clock(120)
    (job,) = client.observe().jobs
    assert job.health is Health.HEALTHY and job.model_id
    change = Change(
        Action.DELETE,
        "qubrid",
        "support-bot",
        "pruned",
        target_id=job.model_id,
        delete_method=DeleteMethod.DELETE_MODEL,
    )

    client.delete(change)
    client.delete(change)  # the model is gone: that is what was wanted

    (job,) = client.observe().jobs
    assert job.health is Health.MISSING
    assert requests_made(sandbox, "DELETE", f"{BASE}/models/*") == 2


def test_access_update_is_not_supported(sandbox: RunningSandbox, fast_retry: RetryPolicy) -> None:
    # Declared, and so not offered: apply refuses an update before any request (test_apply).
    assert not PROFILES["qubrid"].capabilities.updates_access
    assert not isinstance(client_for(sandbox, fast_retry), AccessUpdater)


# Keys -------------------------------------------------------------------------------------


def test_401_names_the_variable_and_hides_the_key(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry, key=SENTINEL_KEYS["qubrid"])
    desired = qa_job(qa_csv(tmp_path))

    with pytest.raises(AuthenticationError) as raised:
        client.upload_dataset(upload_for(desired), desired)
    observation = client.observe()

    for text in (str(raised.value), observation.error or ""):
        assert "qubrid" in text and "QUBRID_API_KEY" in text
        assert_no_secret(text)
    assert not observation.complete


def test_sentinel_key_never_appears_on_error_paths(
    sentinel_sandbox: RunningSandbox,
    fast_retry: RetryPolicy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(sentinel_sandbox, fast_retry)
    desired = qa_job(qa_csv(tmp_path))
    sentinel_sandbox.control.add_fault(kind="error", provider="qubrid", status=500)
    texts = [client.observe().error or ""]
    with pytest.raises(OutcomeUnknownError) as raised:
        client.upload_dataset(upload_for(desired), desired)
    texts.append(str(raised.value))

    assert all(texts) and "HTTP 500" in texts[0]
    for text in texts:
        assert_no_secret(text)
    assert_no_secret(caplog.text)
    assert "retrying" in caplog.text


def test_one_client_serves_many_threads(
    sandbox: RunningSandbox, sleeps: RecordingSleep, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # At most 8 faults in all, so no request can exhaust its 10 attempts.
    client = client_for(sandbox, fast_policy(sleeps, attempts=10))
    specs = [qa_job(qa_csv(tmp_path, 5 + i, f"d{i}.csv"), f"bot-{i}") for i in range(12)]
    # Rate limits: retried whatever the request (a 5xx on a create would end it unknown).
    sandbox.control.add_fault(
        kind="rate_limit", retry_after=0, provider="qubrid", probability=0.3, seed=7, count=8
    )

    with ThreadPoolExecutor(max_workers=6) as pool:
        dataset_ids = list(pool.map(lambda d: client.upload_dataset(upload_for(d), d), specs))
        job_ids = list(pool.map(client.create, specs, dataset_ids))

    assert sleeps.waits  # some requests were retried
    sandbox.control.clear_faults()
    observation = client.observe()
    assert sorted(job.remote_id for job in observation.jobs) == sorted(job_ids)
    names = {j.remote_id: j.name for j in identify_jobs(observation)}
    assert sorted(n or "" for n in names.values()) == sorted(f"bot-{i}" for i in range(12))
