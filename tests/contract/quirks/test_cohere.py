"""The Cohere adapter against the sandbox over real HTTP (CONTRACTS.md §C)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.action import Action
from reconciler.core.observed import Health
from reconciler.core.plan import Change, DeleteMethod
from reconciler.core.spec import DesiredJob
from reconciler.naming import marker_for
from reconciler.providers.base import (
    AccessUpdater,
    AuthenticationError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    Validated,
)
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.http import RetryPolicy
from reconciler.providers.profiles import PROFILES
from tests.support.cohere import ValidationClock
from tests.support.providers import (
    OWNER,
    SENTINEL_KEYS,
    RecordingSleep,
    assert_no_secret,
    chat_jsonl,
    cohere_settings,
    desired_for,
    fast_policy,
    requests_made,
    spec,
    upload_for,
)

MODELS = "/cohere/v1/finetuning/finetuned-models"
DATASETS = "/cohere/v1/datasets"
WANDB_KEY = "wandb-SENTINEL-000"


def chat_job(path: Path, name: str = "helpdesk-chat", **overrides: Any) -> DesiredJob:
    fields: dict[str, Any] = {
        "base_type": "BASE_TYPE_CHAT",
        "dataset_type": "chat-finetune-input",
        "parameters": {"train_epochs": 2, "learning_rate": 0.01, "lora_rank": 8},
    }
    fields.update(overrides)
    return desired_for(spec("cohere", name, path, base_model="command-r", **fields))


def client_for(
    sandbox: RunningSandbox,
    retry: RetryPolicy,
    *,
    key: str | None = None,
    wandb_key: str | None = WANDB_KEY,
    validation_timeout: float = 60.0,
    transport: httpx.BaseTransport | None = None,
) -> CohereClient:
    return CohereClient(
        cohere_settings(sandbox, key, wandb_key=wandb_key),
        retry=retry,
        transport=transport if transport is not None else ValidationClock(sandbox),
        poll_seconds=0.01,
        validation_timeout=validation_timeout,
    )


def converge_one(client: CohereClient, desired: DesiredJob) -> tuple[str, str]:
    dataset_id = client.upload_dataset(upload_for(desired), desired)
    return client.create(desired, dataset_id), dataset_id


# Observe ----------------------------------------------------------------------------------


def test_observe_maps_every_field(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    ready = chat_job(
        chat_jsonl(tmp_path, name="a.jsonl"), wandb={"project": "helpdesk", "entity": "acme"}
    )
    ready_id, ready_dataset = converge_one(client, ready)
    failed_id, _ = converge_one(client, chat_job(chat_jsonl(tmp_path, 5, "b.jsonl"), "bad-chat"))
    sandbox.control.advance("cohere", "finetuned-models", ready_id, to="STATUS_READY")
    sandbox.control.fail("cohere", "finetuned-models", failed_id, "training diverged")

    observation = client.observe()

    assert observation.complete and observation.error is None
    listed = {dataset.remote_id: dataset for dataset in observation.datasets}
    assert set(listed) >= {ready_dataset}
    assert listed[ready_dataset].marker == marker_for(
        "helpdesk-chat", ready.dataset_fingerprint or ""
    )
    assert listed[ready_dataset].usable
    by_id = {job.remote_id: job for job in observation.jobs}
    assert set(by_id) == {ready_id, failed_id}
    job = by_id[ready_id]
    assert job.provider == "cohere"
    assert job.name == "helpdesk-chat"
    assert (job.raw_status, job.health) == ("STATUS_READY", Health.HEALTHY)
    assert job.created_at is not None and job.created_at.tzinfo is not None
    assert job.dataset_ref == ready_dataset
    assert ready.dataset_fingerprint is not None
    assert job.marker == marker_for("helpdesk-chat", ready.dataset_fingerprint)
    assert job.owner == OWNER and job.remote_name == f"{OWNER}--helpdesk-chat"
    assert job.model_id == ready_id
    assert (job.base_model, job.base_type) == ("command-r", "BASE_TYPE_CHAT")
    assert job.wandb == {"project": "helpdesk", "entity": "acme"}
    assert job.parameters is not None
    assert {k: job.parameters[k] for k in ("train_epochs", "learning_rate", "lora_rank")} == {
        "train_epochs": 2,
        "learning_rate": 0.01,
        "lora_rank": 8,
    }
    assert (by_id[failed_id].raw_status, by_id[failed_id].health) == (
        "STATUS_FAILED",
        Health.DEGRADED,
    )
    assert WANDB_KEY not in repr(observation)


def test_observe_pages_by_token_and_makes_only_list_requests(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("cohere", 2100)
    sandbox.control.clear_requests()

    observation = client_for(sandbox, fast_retry).observe()

    assert observation.complete
    assert len({job.remote_id for job in observation.jobs}) == 2100
    # 100 a page (a common cap; the documented default is 50): 21 pages of models, and the
    # datasets by offset until a short page (here an empty one).
    assert sandbox.control.request_counts() == {f"GET {MODELS}": 21, f"GET {DATASETS}": 22}
    assert all(job.health is Health.HEALTHY for job in observation.jobs)
    sequences = [job.sequence for job in observation.jobs]
    assert sequences == sorted(sequences)


def test_a_dead_list_makes_the_observation_incomplete(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.add_fault(kind="error", provider="cohere", path="/v1/finetuning/*", status=502)
    observation = client_for(sandbox, fast_retry).observe()
    assert not observation.complete
    assert observation.error is not None and "HTTP 502" in observation.error
    assert requests_made(sandbox, "GET", MODELS) == fast_retry.attempts


# Upload -----------------------------------------------------------------------------------


class _Inspecting(ValidationClock):
    def __init__(self, sandbox: RunningSandbox) -> None:
        super().__init__(sandbox)
        self.uploads: list[tuple[httpx.URL, httpx.Headers, bool]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == DATASETS:
            try:
                _ = request.content
                in_memory = True
            except httpx.RequestNotRead:
                in_memory = False
            self.uploads.append((request.url, request.headers, in_memory))
        return super().handle_request(request)


def test_upload_streams_and_waits_until_validated(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    path = chat_jsonl(tmp_path, conversations=3000)
    desired = chat_job(path)
    upload = upload_for(desired)
    transport = _Inspecting(sandbox)

    dataset_id = client_for(sandbox, fast_retry, transport=transport).upload_dataset(
        upload, desired
    )

    ((url, headers, in_memory),) = transport.uploads
    assert in_memory is False
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) > path.stat().st_size
    assert url.params["name"] == upload.remote_name == str(upload.remote_name)
    assert url.params["type"] == "chat-finetune-input"
    row = sandbox.control.get("cohere", "datasets", dataset_id)
    assert row["row"]["name"] == upload.remote_name
    assert row["row"]["size_bytes"] == path.stat().st_size
    assert row["state"]["status"] == "validated"
    assert dataset_id.startswith(upload.remote_name + "-")
    assert requests_made(sandbox, "GET", f"{DATASETS}/{dataset_id}") == 3


def test_a_dataset_that_fails_validation_is_permanent_with_cohere_s_reason(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text('{"messages": [{"role": "User", "content": "hi"}]}\n')
    desired = chat_job(path)

    with pytest.raises(PermanentError) as raised:
        client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)

    assert "failed" in raised.value.message
    assert "did not accept the dataset" in raised.value.message
    assert str(raised.value).startswith("cohere/helpdesk-chat: validating dataset")


def test_validation_waiting_is_bounded(
    sandbox: RunningSandbox, sleeps: RecordingSleep, tmp_path: Path
) -> None:
    desired = chat_job(chat_jsonl(tmp_path))
    client = client_for(
        sandbox,
        fast_policy(sleeps),
        validation_timeout=0.2,
        transport=httpx.HTTPTransport(),  # the clock stands still: validation never ends
    )
    with pytest.raises(RetryableError, match="still queued"):
        client.upload_dataset(upload_for(desired), desired)
    assert 1 <= requests_made(sandbox, "GET", f"{DATASETS}/*") <= 25


# Create and delete ------------------------------------------------------------------------


def test_many_datasets_validating_are_read_in_one_list_from_what_the_last_observation_saw(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    urls: list[httpx.URL] = []

    class Recording(ValidationClock):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            urls.append(request.url)
            return super().handle_request(request)

    transport = Recording(sandbox)
    client = client_for(sandbox, fast_retry, transport=transport)
    older = chat_job(chat_jsonl(tmp_path, name="old.jsonl"), "older")
    converge_one(client, older)
    observed = client.observe()
    assert observed.complete
    (newest,) = [d.created_at for d in observed.datasets]
    assert newest is not None
    jobs = [chat_job(chat_jsonl(tmp_path, 3 + i, f"c{i}.jsonl"), f"chat-{i}") for i in range(8)]
    ids = [client.start_upload(upload_for(job), job) for job in jobs]
    bad = chat_job(chat_jsonl(tmp_path, 1, "bad.jsonl"), "bad-chat")  # one conversation
    bad_id = client.start_upload(upload_for(bad), bad)
    sandbox.control.clear_requests()

    waiting = client.validations([*ids, bad_id])
    assert {v.state for v in waiting.values()} == {Validated.PENDING}
    listed = client.observe()
    validating = {d.remote_id: d for d in listed.datasets if d.remote_id in ids}
    # Listed while validating: usable (a job on it waits), never uploaded again.
    assert all(d.usable and d.validating for d in validating.values()) and len(validating) == 8
    sandbox.control.advance_clock(7)
    sandbox.control.clear_requests()
    urls.clear()
    done = client.validations([*ids, bad_id])

    assert {
        dataset_id: v.state for dataset_id, v in done.items() if dataset_id in ids
    } == dict.fromkeys(ids, Validated.VALIDATED)
    assert done[bad_id].state is Validated.FAILED
    assert "at least 2" in (done[bad_id].reason or "")
    # One list request for nine datasets, beginning after the datasets the observation listed.
    assert requests_made(sandbox, "GET", DATASETS) == 1
    assert requests_made(sandbox, "GET", f"{DATASETS}/*") == 0
    (url,) = [u for u in urls if u.path == DATASETS]
    after = datetime.fromisoformat(url.params["after"].replace("Z", "+00:00"))
    assert newest - timedelta(seconds=0.01) < after < newest
    assert client.validation_of(ids[0]) == done[ids[0]]
    assert client.validation_of("no-such-dataset") is None


def test_create_returns_the_id_with_the_settings_sent(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = chat_job(chat_jsonl(tmp_path), wandb={"project": "helpdesk"})

    model_id, dataset_id = converge_one(client, desired)

    row = sandbox.control.get("cohere", "finetuned-models", model_id)["row"]
    assert row["name"] == f"{OWNER}--helpdesk-chat"  # the owner id travels in the name
    import json

    settings = json.loads(row["settings"])
    assert settings["dataset_id"] == dataset_id
    assert settings["base_model"]["base_type"] == "BASE_TYPE_CHAT"
    assert settings["base_model"]["name"] == "command-r"
    assert settings["hyperparameters"]["train_epochs"] == 2
    assert settings["wandb"] == {"project": "helpdesk", "api_key": WANDB_KEY}
    assert requests_made(sandbox, "POST", MODELS) == 1


def test_wandb_without_its_key_is_refused_before_sending(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    desired = chat_job(chat_jsonl(tmp_path), wandb={"project": "helpdesk"})
    with pytest.raises(PermanentError, match="set WANDB_API_KEY"):
        client_for(sandbox, fast_retry, wandb_key=None).create(desired, "some-dataset-abc123")
    assert requests_made(sandbox, "POST", MODELS) == 0


def test_lost_response_on_create_is_outcome_unknown_and_not_resent(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    desired = chat_job(chat_jsonl(tmp_path))
    dataset_id = client.upload_dataset(upload_for(desired), desired)
    sandbox.control.add_fault(
        kind="lost_response", method="POST", provider="cohere", path="/v1/finetuning/*", count=1
    )

    with pytest.raises(OutcomeUnknownError):
        client.create(desired, dataset_id)

    assert requests_made(sandbox, "POST", MODELS) == 1
    assert [job.name for job in client.observe().jobs] == ["helpdesk-chat"]


def test_delete_removes_the_model_and_a_second_delete_is_a_no_op(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry)
    model_id, _ = converge_one(client, chat_job(chat_jsonl(tmp_path)))
    change = Change(
        Action.DELETE,
        "cohere",
        "helpdesk-chat",
        "pruned",
        target_id=model_id,
        delete_method=DeleteMethod.DELETE_MODEL,
    )

    client.delete(change)
    client.delete(change)

    assert client.observe().jobs == ()
    assert requests_made(sandbox, "DELETE", f"{MODELS}/{model_id}") == 2


def test_access_update_is_not_supported(sandbox: RunningSandbox, fast_retry: RetryPolicy) -> None:
    # Declared, and so not offered: apply refuses an update before any request (test_apply).
    assert not PROFILES["cohere"].capabilities.updates_access
    assert not isinstance(client_for(sandbox, fast_retry), AccessUpdater)


# Keys -------------------------------------------------------------------------------------


def test_401_names_both_variables_and_hides_the_key(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    client = client_for(sandbox, fast_retry, key=SENTINEL_KEYS["cohere"])
    with pytest.raises(AuthenticationError) as raised:
        client.create(chat_job(chat_jsonl(tmp_path)), "some-dataset-abc123")
    observation = client.observe()

    for text in (str(raised.value), observation.error or ""):
        assert "cohere" in text and "COHERE_API_KEY" in text and "CO_API_KEY" in text
        assert_no_secret(text)
    assert not observation.complete


def test_sentinel_keys_never_appear_on_error_paths(
    sentinel_sandbox: RunningSandbox,
    fast_retry: RetryPolicy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(sentinel_sandbox, fast_retry, transport=ValidationClock(sentinel_sandbox))
    desired = chat_job(chat_jsonl(tmp_path), wandb={"project": "helpdesk"})
    dataset_id = client.upload_dataset(upload_for(desired), desired)
    sentinel_sandbox.control.add_fault(kind="error", provider="cohere", status=500)
    texts = [client.observe().error or ""]
    with pytest.raises(OutcomeUnknownError) as raised:
        client.create(desired, dataset_id)
    texts.append(str(raised.value))

    assert all(texts)
    for text in texts:
        assert_no_secret(text, (*SENTINEL_KEYS.values(), WANDB_KEY))
    assert_no_secret(caplog.text, (*SENTINEL_KEYS.values(), WANDB_KEY))
