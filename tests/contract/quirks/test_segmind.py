"""The Segmind adapter against the sandbox over real HTTP (CONTRACTS.md §A)."""

from __future__ import annotations

import logging
import socket
import zipfile
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import ProviderSettings
from reconciler.core.observed import Health
from reconciler.core.spec import DesiredJob
from reconciler.datasets.upload import upload_body
from reconciler.naming import marker_for
from reconciler.providers.base import (
    AuthenticationError,
    JobDeleter,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
)
from reconciler.providers.http import RetryPolicy
from reconciler.providers.profiles import PROFILES
from reconciler.providers.segmind.adapter import SegmindClient
from reconciler.providers.segmind.profile import SegmindOptions
from tests.support.providers import (
    OWNER,
    SENTINEL_KEYS,
    RecordingSleep,
    assert_no_secret,
    desired_for,
    fast_policy,
    image_folder,
    requests_made,
    segmind_settings,
    spec,
    upload_for,
)
from tests.support.segmind import client_for, converge_one, flux_pro

LIST = "GET /segmind/finetune/request/list"
PRESIGN = "GET /segmind/finetune/request/upload/pre-signed-url"


def qwen(folder: Path, name: str = "mascot-qwen") -> DesiredJob:
    return desired_for(
        spec(
            "segmind",
            name,
            folder,
            base_model="QWEN",
            trigger_word="TOK",
            instance_prompt="photo of TOK",
            theme="QWEN",
            train_type="LORA",
            machine_type="NVIDIA_H100",
            parameters={"steps": 1000, "learning_rate": 0.0004},
        )
    )


def object_puts(sandbox: RunningSandbox) -> int:
    return requests_made(sandbox, "PUT", "/_objects/*")


def submits(sandbox: RunningSandbox) -> int:
    return requests_made(sandbox, "POST", "/segmind/finetune/request/submit")


def lists(sandbox: RunningSandbox) -> int:
    return requests_made(sandbox, "GET", "/segmind/finetune/request/list")


# Observe ----------------------------------------------------------------------------------


def test_observe_maps_every_field(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    folder = image_folder(tmp_path)
    pro = flux_pro(folder)
    pro_id, pro_url = converge_one(client, pro)
    sandbox.control.advance_clock(1)
    qwen_job = qwen(folder)
    qwen_id, _ = converge_one(client, qwen_job)
    client.update_access(qwen_id, "public")
    sandbox.control.advance("segmind", "jobs", pro_id, to="AVAILABLE")
    sandbox.control.fail("segmind", "jobs", qwen_id, "GPU overloaded, try with smaller dataset")

    observation = client.observe()

    assert observation.complete and observation.error is None
    assert observation.datasets == ()
    by_id = {job.remote_id: job for job in observation.jobs}
    assert set(by_id) == {pro_id, qwen_id}
    seen = by_id[pro_id]
    assert seen.provider == "segmind"
    assert seen.name == "mascot-flux-pro"
    assert (seen.raw_status, seen.health) == ("AVAILABLE", Health.HEALTHY)
    assert seen.access == "private"
    assert seen.dataset_ref == pro_url
    assert "?" not in (seen.dataset_ref or "")
    assert pro.dataset_fingerprint is not None
    assert seen.marker == marker_for("mascot-flux-pro", pro.dataset_fingerprint, OWNER)
    assert seen.owner == OWNER and seen.remote_name == f"{OWNER}--mascot-flux-pro"
    assert seen.base_model == "FLUX_PRO"
    assert seen.theme == "CHARACTER"
    assert seen.parameters is not None
    assert {k: seen.parameters[k] for k in ("iterations", "finetune_type", "lora_rank")} == {
        "iterations": 300,
        "finetune_type": "LORA",
        "lora_rank": 16,
    }
    assert seen.error_message is None
    failed = by_id[qwen_id]
    assert (failed.raw_status, failed.health) == ("FAILED", Health.DEGRADED)
    assert failed.error_message == "GPU overloaded, try with smaller dataset"
    assert failed.access == "public"
    assert failed.base_model == "QWEN"
    assert failed.train_type == "LORA"
    # Newest first in the list: the later submit has the larger sequence.
    assert failed.sequence > seen.sequence


def test_observe_is_one_request_even_with_hundreds_of_jobs(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("segmind", 300)
    sandbox.control.clear_requests()

    observation = SegmindClient(segmind_settings(sandbox), retry=fast_retry).observe()

    assert observation.complete
    assert len(observation.jobs) == 300
    assert len({job.remote_id for job in observation.jobs}) == 300
    assert sandbox.control.request_counts() == {LIST: 1}
    assert {job.health for job in observation.jobs} >= {Health.HEALTHY, Health.DEGRADED}


def test_observe_failure_is_an_incomplete_observation(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.add_fault(kind="error", provider="segmind", path="*/list", status=500)

    observation = client_for(sandbox, fast_retry).observe()

    assert not observation.complete
    assert observation.jobs == ()
    assert observation.error is not None and "HTTP 500" in observation.error
    assert lists(sandbox) == fast_retry.attempts


# Upload -----------------------------------------------------------------------------------


def test_upload_streams_the_exact_zip_privately(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    folder = image_folder(tmp_path, count=5)
    desired = flux_pro(folder)
    upload = upload_for(desired)

    s3_url = client_for(sandbox, fast_retry).upload_dataset(upload, desired)

    assert "?" not in s3_url and upload.file_name.removesuffix(".zip") in s3_url
    objects = sandbox.sandbox.objects
    located = objects.locate(s3_url)
    assert located is not None
    stored = objects.head(*located)
    assert stored is not None
    assert stored.size == upload.size
    assert stored.public is False
    assert stored.content_type == "application/zip"
    expected = b"".join(upload_body(folder).chunks())
    assert objects.read(*located) == expected
    (tmp_path / "got.zip").write_bytes(objects.read(*located) or b"")
    with zipfile.ZipFile(tmp_path / "got.zip") as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in folder.iterdir())
    # One URL, one PUT: a Content-Length body is accepted (a chunked one gets 411).
    counts = sandbox.control.request_counts()
    assert counts[PRESIGN] == 1 and object_puts(sandbox) == 1


def test_fast_flux_upload_is_signed_public_and_trains(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    folder = image_folder(tmp_path)
    desired = desired_for(
        spec(
            "segmind",
            "mascot-fast",
            folder,
            base_model="FAST_FLUX",
            trigger_word="TOK",
            instance_prompt="photo of TOK",
            theme="subject",
            parameters={"steps": 2000, "finetune_type": "LORA"},
        )
    )
    client = client_for(sandbox, fast_retry)
    job_id, s3_url = converge_one(client, desired)

    located = sandbox.sandbox.objects.locate(s3_url)
    assert located is not None
    stored = sandbox.sandbox.objects.head(*located)
    assert stored is not None and stored.public is True
    # A private upload would fail FAST_FLUX with "Download failed".
    assert sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    (job,) = client.observe().jobs
    assert job.health is Health.HEALTHY


class _ExpireFirstUrls(httpx.BaseTransport):
    """Moves the sandbox clock past the URL's expiry before the first ``expire`` PUTs."""

    def __init__(self, sandbox: RunningSandbox, expire: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.sandbox = sandbox
        self.left = expire

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path.startswith("/_objects/") and self.left:
            self.left -= 1
            self.sandbox.control.advance_clock(7200)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_expired_presigned_url_gets_a_fresh_one(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    desired = flux_pro(image_folder(tmp_path))
    client = client_for(sandbox, fast_retry, transport=_ExpireFirstUrls(sandbox, 1))

    s3_url = client.upload_dataset(upload_for(desired), desired)

    counts = sandbox.control.request_counts()
    assert counts[PRESIGN] == 2
    assert object_puts(sandbox) == 2
    located = sandbox.sandbox.objects.locate(s3_url)
    assert located is not None and sandbox.sandbox.objects.head(*located) is not None


def test_presigned_urls_refused_every_time_fail_without_the_signature(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    desired = flux_pro(image_folder(tmp_path))
    client = client_for(sandbox, fast_retry, transport=_ExpireFirstUrls(sandbox, 99))

    with pytest.raises(PermanentError) as raised:
        client.upload_dataset(upload_for(desired), desired)

    text = str(raised.value)
    assert "Request has expired" in text and "segmind/mascot-flux-pro" in text
    assert_no_secret(text)
    assert "X-Amz" not in text
    assert sandbox.control.request_counts()[PRESIGN] == 3


@pytest.mark.parametrize("kind", ["drop", "error"])
def test_upload_retries_a_failed_put_from_the_first_byte(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, kind: str
) -> None:
    folder = image_folder(tmp_path)
    desired = flux_pro(folder)
    sandbox.control.add_fault(kind=kind, method="PUT", path="/_objects/*", count=2)

    s3_url = client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)

    located = sandbox.sandbox.objects.locate(s3_url)
    assert located is not None
    assert sandbox.sandbox.objects.read(*located) == b"".join(upload_body(folder).chunks())
    assert object_puts(sandbox) == 3


def test_upload_refuses_a_dataset_that_changed_since_the_plan(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    folder = image_folder(tmp_path)
    desired = flux_pro(folder)
    (folder / "img9.png").write_bytes(b"\x89PNG another image")

    with pytest.raises(PermanentError, match="plan again"):
        client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)
    assert object_puts(sandbox) == 0


# Create, access, delete -------------------------------------------------------------------


def test_create_returns_the_id_for_every_model_kind(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    folder = image_folder(tmp_path)
    pro_id, pro_url = converge_one(client, flux_pro(folder))
    qwen_id, _ = converge_one(client, qwen(folder))

    pro_row = sandbox.control.get("segmind", "jobs", pro_id)["row"]
    assert pro_row["name"] == f"{OWNER}--mascot-flux-pro"  # the owner id travels in the name
    assert pro_row["data_source_path"] == pro_url
    assert pro_row["train_type"] is None and pro_row["machine_type"] is None
    assert pro_row["segmind_public"] == 0
    assert pro_row["instance_prompt"] == "photo of TOK, a plush fox mascot"
    qwen_row = sandbox.control.get("segmind", "jobs", qwen_id)["row"]
    assert (qwen_row["train_type"], qwen_row["machine_type"]) == ("LORA", "NVIDIA_H100")
    # QWEN answers request_id (distinct from its finetune_id); the Flux models finetune_id.
    assert qwen_row["finetune_id"] != qwen_id
    assert pro_row["finetune_id"] == pro_id
    assert submits(sandbox) == 2


def test_create_of_a_public_spec_submits_it_public(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, flux_pro(image_folder(tmp_path), access="public"))
    assert sandbox.control.get("segmind", "jobs", job_id)["row"]["segmind_public"] == 1


def test_access_update_both_ways(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, qwen(image_folder(tmp_path)))

    client.update_access(job_id, "public")
    assert client.observe().jobs[0].access == "public"
    client.update_access(job_id, "private")
    assert client.observe().jobs[0].access == "private"
    assert sandbox.control.request_counts()["PUT /segmind/finetune/request/access-update"] == 2


def test_delete_is_not_supported(sandbox: RunningSandbox, fast_retry: RetryPolicy) -> None:
    # Declared, and so not offered: the plan reports it and apply refuses it (test_apply).
    assert not PROFILES["segmind"].capabilities.deletes_jobs
    assert not isinstance(client_for(sandbox, fast_retry), JobDeleter)
    assert sandbox.control.request_counts() == {}


# Retries ----------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, sleeps: RecordingSleep
) -> None:
    sandbox.control.seed("segmind", 3)
    sandbox.control.add_fault(
        kind="rate_limit", provider="segmind", path="*/list", retry_after=0.3, count=2
    )

    observation = client_for(sandbox, fast_retry).observe()

    assert observation.complete and len(observation.jobs) == 3
    assert lists(sandbox) == 3
    assert len(sleeps.waits) == 2
    assert all(wait >= 0.3 for wait in sleeps.waits)


def test_429_forever_gives_up_within_the_bound(
    sandbox: RunningSandbox, sleeps: RecordingSleep, tmp_path: Path
) -> None:
    sandbox.control.add_fault(kind="rate_limit", provider="segmind", retry_after=0.05)
    client = client_for(sandbox, fast_policy(sleeps, attempts=3))

    with pytest.raises(RetryableError) as raised:
        client.create(flux_pro(image_folder(tmp_path)), "https://example.invalid/d.zip")

    assert raised.value.status == 429
    assert "gave up after 3 attempts" in str(raised.value)
    assert submits(sandbox) == 3
    assert len(sleeps.waits) == 2


def test_total_time_bounds_a_long_retry_after(
    sandbox: RunningSandbox, sleeps: RecordingSleep
) -> None:
    sandbox.control.add_fault(kind="rate_limit", provider="segmind", retry_after=120)
    client = client_for(sandbox, fast_policy(sleeps, attempts=5, total=10.0))

    observation = client.observe()

    assert not observation.complete
    assert observation.error is not None and "asked to wait 120 s" in observation.error
    assert sleeps.waits == []
    assert lists(sandbox) == 1


@pytest.mark.parametrize("kind", ["error", "drop", "lost_response"])
def test_5xx_and_dropped_connections_are_retried_for_reads(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, kind: str
) -> None:
    sandbox.control.seed("segmind", 2)
    sandbox.control.add_fault(kind=kind, provider="segmind", path="*/list", count=2)

    observation = client_for(sandbox, fast_retry).observe()

    assert observation.complete and len(observation.jobs) == 2
    assert lists(sandbox) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_on_submit_is_an_unknown_outcome_never_resent(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, status: int
) -> None:
    # A proxy's 502/503/504 says nothing of whether the service behind it created the job.
    client = client_for(sandbox, fast_retry)
    desired = flux_pro(image_folder(tmp_path))
    s3_url = client.upload_dataset(upload_for(desired), desired)
    sandbox.control.add_fault(
        kind="error", status=status, provider="segmind", path="*/submit", after_commit=True
    )

    with pytest.raises(OutcomeUnknownError, match=f"HTTP {status}"):
        client.create(desired, s3_url)

    assert submits(sandbox) == 1
    assert len(client.observe().jobs) == 1  # it was made; only its answer was an error


def test_429_on_submit_is_retried_into_one_job(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = flux_pro(image_folder(tmp_path))
    s3_url = client.upload_dataset(upload_for(desired), desired)
    sandbox.control.add_fault(
        kind="rate_limit", retry_after=0, provider="segmind", path="*/submit", count=2
    )

    job_id = client.create(desired, s3_url)

    assert [job.remote_id for job in client.observe().jobs] == [job_id]
    assert submits(sandbox) == 3


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_before_sending_is_retried_then_bounded(
    sandbox: RunningSandbox, sleeps: RecordingSleep, tmp_path: Path
) -> None:
    settings = segmind_settings(sandbox, base_url=f"http://127.0.0.1:{_closed_port()}/segmind")
    client = client_for(sandbox, fast_policy(sleeps, attempts=3), settings=settings)

    with pytest.raises(RetryableError) as raised:
        client.create(flux_pro(image_folder(tmp_path)), "https://example.invalid/d.zip")

    assert "could not reach Segmind" in str(raised.value)
    assert "gave up after 3 attempts" in str(raised.value)
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize("kind", ["lost_response", "drop"])
def test_submit_whose_connection_drops_is_outcome_unknown_not_retried(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, kind: str
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = flux_pro(image_folder(tmp_path))
    s3_url = client.upload_dataset(upload_for(desired), desired)
    sandbox.control.add_fault(kind=kind, provider="segmind", path="*/submit", count=1)

    with pytest.raises(OutcomeUnknownError) as raised:
        client.create(desired, s3_url)

    assert "list again" in str(raised.value)
    assert submits(sandbox) == 1
    # lost_response committed the job, drop did not: either way exactly what the server did.
    jobs = client.observe().jobs
    assert len(jobs) == (1 if kind == "lost_response" else 0)


def test_500_on_submit_is_outcome_unknown(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.add_fault(kind="error", provider="segmind", path="*/submit", status=500)
    with pytest.raises(OutcomeUnknownError) as raised:
        client_for(sandbox, fast_retry).create(
            flux_pro(image_folder(tmp_path)), "https://example.invalid/d.zip"
        )
    assert raised.value.status == 500
    assert submits(sandbox) == 1


def test_a_refused_submit_carries_segmind_s_message(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    desired = flux_pro(image_folder(tmp_path), parameters={"iterations": 5})
    with pytest.raises(PermanentError) as raised:
        client_for(sandbox, fast_retry).create(desired, "https://example.invalid/d.zip")
    assert raised.value.status == 400
    assert "iterations" in raised.value.message and "at least 100" in raised.value.message
    assert str(raised.value).startswith("segmind/mascot-flux-pro: submitting the fine-tune")


# Keys -------------------------------------------------------------------------------------


def test_401_names_the_variable_and_hides_the_key(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry, key=SENTINEL_KEYS["segmind"])

    with pytest.raises(AuthenticationError) as raised:
        client.create(flux_pro(image_folder(tmp_path)), "https://example.invalid/d.zip")
    observation = client.observe()

    for text in (str(raised.value), observation.error or ""):
        assert "segmind" in text and "SEGMIND_API_KEY" in text
        assert_no_secret(text)
    assert raised.value.status == 401
    assert not observation.complete
    assert submits(sandbox) == 1


def test_missing_key_fails_before_sending(sandbox: RunningSandbox, fast_retry: RetryPolicy) -> None:
    settings = ProviderSettings(
        base_url=sandbox.base_url("segmind"), api_key=None, options=SegmindOptions()
    )
    observation = SegmindClient(settings, retry=fast_retry).observe()
    assert not observation.complete
    assert observation.error is not None and "set SEGMIND_API_KEY" in observation.error
    assert sandbox.control.request_counts() == {}


def test_sentinel_key_never_appears_on_error_paths(
    sentinel_sandbox: RunningSandbox,
    fast_retry: RetryPolicy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    control = sentinel_sandbox.control
    client = client_for(sentinel_sandbox, fast_retry)
    desired = flux_pro(image_folder(tmp_path))
    texts: list[str] = []
    control.add_fault(kind="error", provider="segmind", status=500, message="boom")
    texts.append(client.observe().error or "")
    with pytest.raises(OutcomeUnknownError) as unknown:
        client.create(desired, "https://example.invalid/d.zip")
    texts.append(str(unknown.value))
    control.clear_faults()
    control.add_fault(kind="error", method="PUT", path="/_objects/*", status=500)
    with pytest.raises(RetryableError) as put_failed:
        client.upload_dataset(upload_for(desired), desired)
    texts.append(str(put_failed.value))
    control.clear_faults()
    control.add_fault(kind="error", method="PUT", path="/_objects/*", status=400)
    with pytest.raises(PermanentError) as put_refused:
        client.upload_dataset(upload_for(desired), desired)
    texts.append(str(put_refused.value))

    assert texts[0] and all(texts)
    for text in texts:
        assert_no_secret(text)
    assert_no_secret(caplog.text)
    assert "X-Amz-Credential" not in caplog.text
    assert "retrying" in caplog.text  # the retries were logged, redacted
    assert "HTTP Request: PUT" in caplog.text and "?****" in caplog.text  # httpx's own log
