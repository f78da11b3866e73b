"""The Cohere adapter under each reading of the documents' open questions (the sandbox's
``cohere.*`` variants, ``docs/providers.md``), and the strictness where they settle one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.naming import marker_for
from reconciler.providers.base import PermanentError, ServiceRefusedError
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.cohere.deprecation import CohereDeprecatedError
from reconciler.providers.http import RetryPolicy
from tests.contract.quirks.test_cohere import DATASETS, MODELS, chat_job, client_for, converge_one
from tests.support.providers import (
    chat_jsonl,
    cohere_settings,
    desired_for,
    requests_made,
    spec,
    upload_for,
)

# A server that is not the sandbox: answers made up in the test (httpx.MockTransport).
MOCK_URL = "https://cohere.invalid"


def test_a_spec_without_a_base_model_name_sends_none(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    # The sandbox refuses `base_model.name: ""` as a strict server does.
    desired = desired_for(
        spec(
            "cohere",
            "plain-chat",
            chat_jsonl(tmp_path),
            base_model="",
            base_type="BASE_TYPE_CHAT",
            dataset_type="chat-finetune-input",
        )
    )
    model_id, _ = converge_one(client_for(sandbox, fast_retry), desired)
    settings = json.loads(
        sandbox.control.get("cohere", "finetuned-models", model_id)["row"]["settings"]
    )
    assert "name" not in settings["base_model"]


def test_uuid_dataset_ids_still_carry_the_marker_through_the_dataset_list(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.dataset_ids": "uuid"})
    client = client_for(sandbox, fast_retry)
    desired = chat_job(chat_jsonl(tmp_path))
    model_id, dataset_id = converge_one(client, desired)
    assert not dataset_id.startswith("helpdesk-chat")

    (job,) = client.observe().jobs
    assert job.remote_id == model_id and job.dataset_ref == dataset_id
    assert job.marker == marker_for("helpdesk-chat", desired.dataset_fingerprint or "")


@pytest.mark.parametrize("cap", ["100", "100-refused"])
def test_a_page_size_cap_still_lists_every_model(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, cap: str
) -> None:
    sandbox.control.set_variants(**{"cohere.page_size_cap": cap})
    sandbox.control.seed("cohere", 250)
    observation = client_for(sandbox, fast_retry).observe()
    assert observation.complete, observation.error
    assert len({job.remote_id for job in observation.jobs}) == 250


def test_a_400_on_the_page_size_steps_down_to_the_documented_default(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        size = request.url.params.get("page_size") or request.url.params.get("limit") or ""
        asked.append(f"{request.url.path} {size}")
        if size == "100":
            return httpx.Response(400, json={"message": "page_size must be at most 50"})
        key = "finetuned_models" if "finetuning" in request.url.path else "datasets"
        return httpx.Response(200, json={key: []})

    client = CohereClient(
        cohere_settings(sandbox, base_url=MOCK_URL),
        transport=httpx.MockTransport(answer),
        retry=fast_retry,
    )
    observation = client.observe()
    assert observation.complete, observation.error
    assert asked == [
        "/v1/finetuning/finetuned-models 100",
        "/v1/finetuning/finetuned-models 50",
        "/v1/datasets 100",
        "/v1/datasets 50",
    ]


def test_an_empty_account_answering_an_empty_object_is_an_empty_list(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.set_variants(**{"cohere.empty_list": "empty-object"})
    observation = client_for(sandbox, fast_retry).observe()
    assert observation.complete, observation.error
    assert observation.jobs == () and observation.datasets == ()


def test_a_dataset_not_yet_visible_after_its_upload_is_looked_at_again(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.dataset_visibility": "late"})
    desired = chat_job(chat_jsonl(tmp_path))
    dataset_id = client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)
    assert requests_made(sandbox, "GET", f"{DATASETS}/{dataset_id}") >= 3


def test_a_missing_then_unknown_validation_status_is_not_a_failure(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.validation_status": "transient-unknown"})
    desired = chat_job(chat_jsonl(tmp_path))
    client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)


def test_unknown_for_good_ends_the_wait_with_a_clear_message(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    desired = chat_job(chat_jsonl(tmp_path))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"id": "d-1"})
        return httpx.Response(200, json={"dataset": {"id": "d-1", "validation_status": "unknown"}})

    client = CohereClient(
        cohere_settings(sandbox, base_url=MOCK_URL),
        transport=httpx.MockTransport(answer),
        retry=fast_retry,
        poll_seconds=0.0,
    )
    with pytest.raises(PermanentError, match="still shows unknown after 10 looks"):
        client.upload_dataset(upload_for(desired), desired)


def test_deprecated_fine_tuning_is_one_clear_refusal(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.finetuning": "deprecated"})
    client = client_for(sandbox, fast_retry)

    observation = client.observe()
    assert not observation.complete
    assert observation.error is not None
    assert "deprecated its fine-tuning API on 2025-09-15" in observation.error
    assert "Move these specs to another provider" in observation.error
    # The refusal of the whole service, its message alone (said once by the plan).
    assert observation.refused is not None
    assert observation.refused.startswith("Cohere deprecated its fine-tuning API on 2025-09-15")
    assert observation.refused in observation.error

    desired = chat_job(chat_jsonl(tmp_path))
    with pytest.raises(CohereDeprecatedError) as raised:
        client.create(desired, "some-dataset")
    assert str(raised.value) == observation.error
    # Refused once: nothing more is sent.
    assert requests_made(sandbox, "POST", MODELS) == 0


def test_a_refused_fine_tuning_dataset_type_is_the_deprecation(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.finetuning": "deprecated"})
    desired = chat_job(chat_jsonl(tmp_path))
    with pytest.raises(CohereDeprecatedError, match="embed-input"):
        client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)


def test_refused_writes_while_the_lists_answer_are_one_service_refusal(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.finetuning": "deprecated-writes"})
    client = client_for(sandbox, fast_retry)

    # The lists still answer: the plan cannot tell, the writes do.
    observation = client.observe()
    assert observation.complete
    assert observation.refused is None

    desired = chat_job(chat_jsonl(tmp_path))
    with pytest.raises(ServiceRefusedError) as raised:
        client.create(desired, "some-dataset")
    # The generic refusal of the service the executor handles, with Cohere's one message.
    assert isinstance(raised.value, CohereDeprecatedError)
    assert raised.value.status == 410
    assert raised.value.message.startswith("Cohere deprecated its fine-tuning API on 2025-09-15")
    assert "Move these specs to another provider" in raised.value.message
    # Refused once: the upload that follows is not sent.
    with pytest.raises(CohereDeprecatedError):
        client.upload_dataset(upload_for(desired), desired)
    assert requests_made(sandbox, "POST", MODELS) == 1
    assert requests_made(sandbox, "POST", DATASETS) == 0


def test_a_refused_dataset_type_while_the_lists_answer_is_a_service_refusal(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"cohere.finetuning": "deprecated-writes"})
    desired = chat_job(chat_jsonl(tmp_path))
    with pytest.raises(ServiceRefusedError, match="embed-input") as raised:
        client_for(sandbox, fast_retry).upload_dataset(upload_for(desired), desired)
    assert raised.value.status == 400
