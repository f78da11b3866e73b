"""The official ``cohere`` SDK (7.x) against the sandbox: proof that it speaks Cohere's protocol.

The client is pointed at the sandbox with ``base_url`` (the SDK reads ``CO_API_URL`` only when
it is imported, so the argument is the reliable way). The clock runs fast so that the SDK's own
``wait`` sees the dataset validate in a fraction of a second.
"""

from __future__ import annotations

import io

import cohere
import pytest
from cohere.finetuning import BaseModel, FinetunedModel, Hyperparameters, Settings

from reconcile_sandbox.testing import RunningSandbox
from tests.sandbox.cohere_support import chat_jsonl

FAST_CLOCK = 200.0  # simulated seconds per real second: validation (7 s) takes ~35 ms


@pytest.fixture
def co(sandbox: RunningSandbox) -> cohere.Client:
    return cohere.Client(
        api_key=sandbox.keys["cohere"], base_url=sandbox.base_url("cohere"), timeout=30
    )


def test_the_sdk_uploads_a_dataset_and_waits_for_it_to_validate(
    sandbox: RunningSandbox, co: cohere.Client
) -> None:
    sandbox.control.set_speed(FAST_CLOCK)
    created = co.datasets.create(
        name="sdk-chats",
        type="chat-finetune-input",
        data=("train.jsonl", io.BytesIO(chat_jsonl(12))),
        eval_data=("eval.jsonl", io.BytesIO(chat_jsonl(3))),
    )
    assert created.id is not None and created.id.startswith("sdk-chats-")
    done = co.wait(created, timeout=20, interval=0.05)
    assert done.dataset.validation_status == "validated"
    metrics = done.dataset.metrics
    assert metrics is not None and metrics.finetune_dataset_metrics is not None
    assert metrics.finetune_dataset_metrics.eval_examples == 3
    listed = co.datasets.list(dataset_type="chat-finetune-input")
    assert [item.id for item in listed.datasets or []] == [created.id]
    assert (co.datasets.get_usage().organization_usage or 0) > 0


def test_the_sdk_wait_raises_on_a_dataset_that_fails_validation(
    sandbox: RunningSandbox, co: cohere.Client
) -> None:
    sandbox.control.set_speed(FAST_CLOCK)
    created = co.datasets.create(
        name="broken", type="chat-finetune-input", data=("train.jsonl", io.BytesIO(b"{oops"))
    )
    with pytest.raises(Exception, match="failed"):
        co.wait(created, timeout=20, interval=0.05)


def test_the_sdk_lists_creates_gets_renames_and_deletes_fine_tuned_models(
    sandbox: RunningSandbox, co: cohere.Client
) -> None:
    sandbox.control.set_speed(FAST_CLOCK)
    dataset = co.wait(
        co.datasets.create(
            name="sdk-train", type="chat-finetune-input", data=("t.jsonl", io.BytesIO(chat_jsonl()))
        ),
        timeout=20,
        interval=0.05,
    )
    sandbox.control.set_speed(0.0)
    assert co.finetuning.list_finetuned_models().finetuned_models in (None, [])

    created = co.finetuning.create_finetuned_model(
        request=FinetunedModel(
            name="sdk-bot",
            settings=Settings(
                base_model=BaseModel(base_type="BASE_TYPE_CHAT"),
                dataset_id=dataset.dataset.id,
                hyperparameters=Hyperparameters(train_epochs=2, learning_rate=0.01),
            ),
        )
    ).finetuned_model
    assert created is not None and created.id is not None
    assert created.status == "STATUS_QUEUED"

    listed = co.finetuning.list_finetuned_models(page_size=10)
    assert [model.id for model in listed.finetuned_models or []] == [created.id]
    assert listed.total_size == 1 and listed.next_page_token == ""

    sandbox.control.advance("cohere", "finetuned-models", created.id, to="STATUS_READY")
    fetched = co.finetuning.get_finetuned_model(created.id).finetuned_model
    assert fetched is not None and fetched.status == "STATUS_READY"
    assert fetched.completed_at is not None

    renamed = co.finetuning.update_finetuned_model(
        created.id, name="sdk-bot-renamed", settings=fetched.settings
    ).finetuned_model
    assert renamed is not None and renamed.name == "sdk-bot-renamed"

    events = co.finetuning.list_events(finetuned_model_id=created.id)
    assert [event.status for event in events.events or []][-1] == "STATUS_READY"
    metrics = co.finetuning.list_training_step_metrics(finetuned_model_id=created.id)
    assert len(metrics.step_metrics or []) == 10

    co.finetuning.delete_finetuned_model(created.id)
    assert co.finetuning.list_finetuned_models().total_size == 0
    with pytest.raises(cohere.NotFoundError):
        co.finetuning.get_finetuned_model(created.id)


def test_the_sdk_retries_after_a_rate_limit_and_succeeds(
    sandbox: RunningSandbox, co: cohere.Client
) -> None:
    sandbox.control.add_fault(
        kind="rate_limit",
        provider="cohere",
        path="/v1/finetuning/finetuned-models",
        retry_after=0.2,
        count=1,
    )
    assert co.finetuning.list_finetuned_models().total_size == 0
    counts = sandbox.control.request_counts()
    assert counts["GET /cohere/v1/finetuning/finetuned-models"] == 2


def test_the_sdk_reports_a_wrong_key_as_unauthorized(sandbox: RunningSandbox) -> None:
    co = cohere.Client(api_key="wrong-key", base_url=sandbox.base_url("cohere"))
    with pytest.raises(cohere.UnauthorizedError):
        co.finetuning.list_finetuned_models()
