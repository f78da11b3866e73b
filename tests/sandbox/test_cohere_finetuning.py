"""Contract tests of the Cohere fine-tuning emulator over real HTTP (CONTRACTS.md §C1, §C2, §D).

Every response goes through ``checked_client``, so each one is also validated against the
OpenAPI document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox, SandboxControlError, start_sandbox
from tests.sandbox.cohere_support import (
    DATASET_VALIDATION_SECONDS,
    MODEL_READY_SECONDS,
    MODELS_PATH,
    chat_jsonl,
    checked_client,
    classification_csv,
    create_model,
    model_body,
    upload,
    validated_chat_dataset,
)

ISO_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
LIFECYCLE = ["STATUS_QUEUED", "STATUS_FINETUNING", "STATUS_DEPLOYING_API", "STATUS_READY"]


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


@pytest.fixture
def dataset_id(sandbox: RunningSandbox, api: httpx.Client) -> str:
    return validated_chat_dataset(sandbox, api)


def get_model(api: httpx.Client, model_id: str) -> dict[str, Any]:
    response = api.get(f"{MODELS_PATH}/{model_id}")
    assert response.status_code == 200, response.text
    model: dict[str, Any] = response.json()["finetuned_model"]
    return model


def list_page(api: httpx.Client, **params: Any) -> dict[str, Any]:
    response = api.get(MODELS_PATH, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_create_answers_200_with_the_model_queued_and_defaults_filled(
    api: httpx.Client, dataset_id: str
) -> None:
    response = api.post(MODELS_PATH, json=model_body(dataset_id))
    assert response.status_code == 200
    model = response.json()["finetuned_model"]
    assert re.fullmatch(r"[0-9a-f-]{36}", model["id"])
    assert model["name"] == "support-bot"
    assert model["status"] == "STATUS_QUEUED"
    assert ISO_MICRO.match(model["created_at"])
    assert "completed_at" not in model
    assert model["settings"]["dataset_id"] == dataset_id
    assert model["settings"]["hyperparameters"] == {
        "train_epochs": 1,
        "learning_rate": 0.01,
        "train_batch_size": 16,
        "early_stopping_threshold": 0.001,
        "early_stopping_patience": 10,
    }


def test_a_model_walks_queued_finetuning_deploying_ready(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    seen = [get_model(api, model_id)["status"]]
    # Steps shorter than the shortest stage (30 s), so no status is skipped.
    for _ in range(55):
        sandbox.control.advance_clock(25.0)
        seen.append(get_model(api, model_id)["status"])
    assert [status for i, status in enumerate(seen) if i == 0 or seen[i - 1] != status] == LIFECYCLE
    ready = get_model(api, model_id)
    assert ready["completed_at"] == ready["updated_at"]
    assert ready["completed_at"] > ready["created_at"]


def test_events_list_each_transition_with_its_time_and_page(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    sandbox.control.advance_clock(MODEL_READY_SECONDS)
    path = f"{MODELS_PATH}/{model_id}/events"
    everything = api.get(path).json()
    assert everything["total_size"] == 4
    assert everything["next_page_token"] == ""
    events = everything["events"]
    assert [event["status"] for event in events] == LIFECYCLE
    assert [event["created_at"] for event in events] == sorted(e["created_at"] for e in events)
    assert events[0]["user_id"] and "user_id" not in events[-1]  # READY is the system's doing

    first = api.get(path, params={"page_size": 3}).json()
    assert len(first["events"]) == 3 and first["next_page_token"]
    rest = api.get(path, params={"page_size": 3, "page_token": first["next_page_token"]}).json()
    assert first["events"] + rest["events"] == events
    assert rest["next_page_token"] == ""

    newest_first = api.get(path, params={"order_by": "created_at desc"}).json()["events"]
    assert newest_first == list(reversed(events))


def test_training_step_metrics_appear_as_training_progresses(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    path = f"{MODELS_PATH}/{model_id}/training-step-metrics"
    assert api.get(path).json() == {"step_metrics": [], "next_page_token": ""}
    sandbox.control.advance_clock(30.0 + 300.0)
    partial = api.get(path).json()["step_metrics"]
    assert 1 < len(partial) < 10
    sandbox.control.advance_clock(MODEL_READY_SECONDS)
    full = api.get(path).json()["step_metrics"]
    assert len(full) == 10
    assert full[: len(partial)] == partial
    steps = [entry["step_number"] for entry in full]
    assert steps == sorted(steps)
    losses = [entry["metrics"]["cross_entropy"] for entry in full]
    assert losses == sorted(losses, reverse=True)
    page = api.get(path, params={"page_size": 4}).json()
    assert page["step_metrics"] == full[:4]
    page2 = api.get(path, params={"page_size": 4, "page_token": page["next_page_token"]}).json()
    assert page2["step_metrics"] == full[4:8]


def test_the_control_api_fails_a_model_with_a_final_failed_event(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    sandbox.control.advance_clock(100.0)
    sandbox.control.fail("cohere", "finetuned-models", model_id, "training diverged")
    sandbox.control.advance_clock(MODEL_READY_SECONDS)
    assert get_model(api, model_id)["status"] == "STATUS_FAILED"
    events = api.get(f"{MODELS_PATH}/{model_id}/events").json()["events"]
    assert [event["status"] for event in events] == [
        "STATUS_QUEUED",
        "STATUS_FINETUNING",
        "STATUS_FAILED",
    ]


def test_the_control_api_can_advance_one_model_to_ready(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    sandbox.control.advance("cohere", "finetuned-models", model_id, to="STATUS_READY")
    assert get_model(api, model_id)["status"] == "STATUS_READY"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": None}, "name is required"),
        ({"name": ""}, "name is required"),
        ({"settings": None}, "settings is required"),
        ({"settings": {"base_model": {"base_type": "BASE_TYPE_CHAT"}}}, "dataset_id is required"),
        ({"settings.base_model": None}, "base_model is required"),
        ({"settings.base_model": {}}, "base_type is required"),
        ({"settings.base_model": {"base_type": "BASE_TYPE_UNSPECIFIED"}}, "base_type is required"),
        ({"settings.base_model": {"base_type": "BASE_TYPE_GENERATIVE"}}, "deprecated"),
        ({"settings.base_model": {"base_type": "CHAT"}}, "is not one of"),
        ({"settings.hyperparameters": {"train_epochs": 0}}, "between 1 and 10"),
        ({"settings.hyperparameters": {"train_epochs": 11}}, "between 1 and 10"),
        ({"settings.hyperparameters": {"train_epochs": 1.5}}, "whole number"),
        ({"settings.hyperparameters": {"learning_rate": 0.2}}, "between 5e-05 and 0.1"),
        ({"settings.hyperparameters": {"train_batch_size": 1}}, "between 2 and 16"),
        ({"settings.hyperparameters": {"train_batch_size": 17}}, "between 2 and 16"),
        ({"settings.hyperparameters": {"early_stopping_threshold": 0.5}}, "between 0.001 and 0.1"),
        ({"settings.hyperparameters": {"early_stopping_patience": 11}}, "between 0 and 10"),
        ({"settings.hyperparameters": {"lora_rank": 0}}, "lora_rank"),
        ({"settings.hyperparameters": {"lora_target_modules": "QV"}}, "is not one of"),
        ({"settings.hyperparameters": {"epochs": 3}}, "unknown field"),
        ({"settings.hyperparameters": {"learning_rate": "fast"}}, "must be a number"),
        ({"settings.wandb": {"project": "p"}}, "api_key is required"),
        ({"settings.wandb": {"api_key": "k"}}, "project is required"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
def test_create_refuses_invalid_bodies_with_400(
    api: httpx.Client, dataset_id: str, change: dict[str, Any], expected: str
) -> None:
    body = model_body(dataset_id)
    for dotted, value in change.items():
        target = body
        *parents, leaf = dotted.split(".")
        for parent in parents:
            target = target[parent]
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    response = api.post(MODELS_PATH, json=body)
    assert response.status_code == 400, response.text
    assert expected in response.json()["message"]
    assert list_page(api)["total_size"] == 0


def test_create_refuses_a_body_that_is_not_json(api: httpx.Client) -> None:
    response = api.post(MODELS_PATH, content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400


def test_create_accepts_every_documented_hyperparameter_and_wandb(
    api: httpx.Client, dataset_id: str
) -> None:
    hyperparameters = {
        "train_epochs": 10,
        "learning_rate": 0.00005,
        "train_batch_size": 2,
        "early_stopping_threshold": 0.1,
        "early_stopping_patience": 0,
        "lora_rank": 16,
        "lora_alpha": 32,
        "lora_target_modules": "LORA_TARGET_MODULES_QKVO_FFN",
    }
    wandb = {"project": "support", "api_key": "wandb-test-key", "entity": "team"}
    model = create_model(api, model_body(dataset_id, hyperparameters=hyperparameters, wandb=wandb))
    assert model["settings"]["hyperparameters"] == hyperparameters
    assert model["settings"]["wandb"] == wandb


def test_create_needs_an_existing_validated_dataset_of_the_right_type(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    missing = api.post(MODELS_PATH, json=model_body("no-such-dataset"))
    assert missing.status_code == 404
    assert missing.json()["message"] == "The dataset with id 'no-such-dataset' was not found."

    pending = upload(api, chat_jsonl())
    response = api.post(MODELS_PATH, json=model_body(pending))
    assert response.status_code == 400
    assert "not validated yet" in response.json()["message"]

    broken = upload(api, b"{broken")
    classify = upload(
        api,
        classification_csv({"a": 20, "b": 20}),
        dataset_type="single-label-classification-finetune-input",
        filename="c.csv",
    )
    sandbox.control.advance_clock(DATASET_VALIDATION_SECONDS)
    response = api.post(MODELS_PATH, json=model_body(broken))
    assert response.status_code == 400
    assert "failed validation" in response.json()["message"]
    response = api.post(MODELS_PATH, json=model_body(classify))
    assert response.status_code == 400
    assert "chat-finetune-input" in response.json()["message"]

    classifier = create_model(
        api,
        {
            "name": "router",
            "settings": {
                "base_model": {"base_type": "BASE_TYPE_CLASSIFICATION"},
                "dataset_id": classify,
            },
        },
    )
    assert classifier["settings"]["multi_label"] is False
    wandb_on_classifier = api.post(
        MODELS_PATH,
        json={
            "name": "router",
            "settings": {
                "base_model": {"base_type": "BASE_TYPE_CLASSIFICATION"},
                "dataset_id": classify,
                "wandb": {"project": "p", "api_key": "k"},
            },
        },
    )
    assert wandb_on_classifier.status_code == 400
    assert "only supported for BASE_TYPE_CHAT" in wandb_on_classifier.json()["message"]


def test_get_of_a_missing_model_is_404(api: httpx.Client) -> None:
    response = api.get(f"{MODELS_PATH}/fee37446-7fc7-42f9-a026-c6ba2fcc422d")
    assert response.status_code == 404
    assert "fee37446-7fc7-42f9-a026-c6ba2fcc422d" in response.json()["message"]


def test_patch_with_only_a_name_renames_and_keeps_the_settings(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    created = create_model(api, model_body(dataset_id))
    sandbox.control.advance_clock(5.0)
    response = api.patch(f"{MODELS_PATH}/{created['id']}", json={"name": "new name"})
    assert response.status_code == 200
    renamed = response.json()["finetuned_model"]
    assert renamed["name"] == "new name"
    assert renamed["settings"] == created["settings"]
    assert renamed["updated_at"] > created["updated_at"]
    assert get_model(api, created["id"])["name"] == "new name"


def test_patch_with_name_and_settings_as_the_sdk_sends_them(
    api: httpx.Client, dataset_id: str
) -> None:
    created = create_model(api, model_body(dataset_id))
    settings = dict(created["settings"])
    settings["hyperparameters"] = {**settings["hyperparameters"], "train_epochs": 3}
    # Read-only fields sent back are ignored.
    body = {"name": "v2", "settings": settings, "status": "STATUS_READY", "id": "other"}
    response = api.patch(f"{MODELS_PATH}/{created['id']}", json=body)
    assert response.status_code == 200, response.text
    updated = response.json()["finetuned_model"]
    assert updated["id"] == created["id"]
    assert updated["status"] == "STATUS_QUEUED"
    assert updated["settings"]["hyperparameters"]["train_epochs"] == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "name is required"),
        ({"settings": {"dataset_id": "x", "base_model": {"base_type": "BASE_TYPE_CHAT"}}}, "name"),
        (
            {
                "name": "n",
                "settings": {"dataset_id": "x", "base_model": {"base_type": "BASE_TYPE_RERANK"}},
            },
            "cannot change",
        ),
    ],
    ids=["empty", "no-name", "base-type-change"],
)
def test_patch_refuses_invalid_bodies_with_400(
    api: httpx.Client, dataset_id: str, body: dict[str, Any], expected: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    response = api.patch(f"{MODELS_PATH}/{model_id}", json=body)
    assert response.status_code == 400
    assert expected in response.json()["message"]


def test_patch_of_a_missing_model_is_404(api: httpx.Client) -> None:
    response = api.patch(f"{MODELS_PATH}/missing", json={"name": "x"})
    assert response.status_code == 404


def test_delete_answers_an_empty_object_and_the_model_is_gone(
    api: httpx.Client, dataset_id: str
) -> None:
    model_id = create_model(api, model_body(dataset_id))["id"]
    response = api.delete(f"{MODELS_PATH}/{model_id}")
    assert response.status_code == 200
    assert response.json() == {}
    assert api.get(f"{MODELS_PATH}/{model_id}").status_code == 404
    assert list_page(api)["total_size"] == 0
    assert api.delete(f"{MODELS_PATH}/{model_id}").status_code == 404


def test_list_pages_with_tokens_until_an_empty_token(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    assert sandbox.control.seed("cohere", 120) == 120
    first = list_page(api)
    assert len(first["finetuned_models"]) == 50  # no page_size: 50
    assert list_page(api, page_size=0)["finetuned_models"] == first["finetuned_models"]
    assert first["total_size"] == 120
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = list_page(api, page_size=32, **({"page_token": token} if token else {}))
        names += [model["name"] for model in page["finetuned_models"]]
        pages += 1
        token = page["next_page_token"]
        if not token:
            break
    assert pages == 4
    assert names == [f"seed-model-{index:05d}" for index in range(1, 121)]

    newest = list_page(api, page_size=3, order_by="created_at desc")
    assert [m["name"] for m in newest["finetuned_models"]] == [
        "seed-model-00120",
        "seed-model-00119",
        "seed-model-00118",
    ]
    following = list_page(
        api, page_size=3, order_by="created_at desc", page_token=newest["next_page_token"]
    )
    assert following["finetuned_models"][0]["name"] == "seed-model-00117"


def test_a_token_stays_valid_when_models_are_created_between_pages(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    sandbox.control.seed("cohere", 4, age_seconds=3600)
    first = list_page(api, page_size=2)
    create_model(api, model_body(dataset_id, name="late"))
    second = list_page(api, page_size=2, page_token=first["next_page_token"])
    third = list_page(api, page_size=2, page_token=second["next_page_token"])
    names = [m["name"] for p in (first, second, third) for m in p["finetuned_models"]]
    assert names == [*(f"seed-model-{i:05d}" for i in range(1, 5)), "late"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"page_token": "not-a-token"}, "page_token"),
        ({"order_by": "name"}, "order_by"),
        ({"page_size": "-1"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
    ],
)
def test_list_refuses_bad_paging_with_400(
    api: httpx.Client, params: dict[str, str], expected: str
) -> None:
    response = api.get(MODELS_PATH, params=params)
    assert response.status_code == 400
    assert expected in response.json()["message"]


def test_a_token_issued_for_one_order_is_refused_for_the_other(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    sandbox.control.seed("cohere", 3)
    token = list_page(api, page_size=1)["next_page_token"]
    response = api.get(MODELS_PATH, params={"page_token": token, "order_by": "created_at desc"})
    assert response.status_code == 400


def test_a_new_model_is_missing_from_a_lagging_list_but_readable_by_id(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    sandbox.control.seed("cohere", 2)
    sandbox.control.add_fault(kind="list_lag", provider="cohere", path=MODELS_PATH, lag=30)
    model_id = create_model(api, model_body(dataset_id, name="fresh"))["id"]
    lagging = list_page(api)
    assert lagging["total_size"] == 2
    assert "fresh" not in [m["name"] for m in lagging["finetuned_models"]]
    assert get_model(api, model_id)["name"] == "fresh"
    sandbox.control.advance_clock(31.0)
    assert list_page(api)["total_size"] == 3


def test_a_rename_in_the_console_shows_in_the_list(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    sandbox.control.seed("cohere", 1)
    (model,) = list_page(api)["finetuned_models"]
    sandbox.control.set_fields("cohere", "finetuned-models", model["id"], name="renamed by hand")
    (renamed,) = list_page(api)["finetuned_models"]
    assert renamed["name"] == "renamed by hand"
    assert renamed["updated_at"] > model["updated_at"]


def test_seeded_models_are_ready_with_validated_datasets(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    sandbox.control.seed("cohere", 3, prefix="old", base_type="BASE_TYPE_CLASSIFICATION")
    models = list_page(api)["finetuned_models"]
    assert [m["status"] for m in models] == ["STATUS_READY"] * 3
    assert [m["name"] for m in models] == ["old-model-00001", "old-model-00002", "old-model-00003"]
    dataset = api.get(f"/v1/datasets/{models[0]['settings']['dataset_id']}").json()["dataset"]
    assert dataset["validation_status"] == "validated"
    assert dataset["dataset_type"] == "single-label-classification-finetune-input"


@pytest.mark.parametrize(
    "options",
    [{"colour": "red"}, {"age_seconds": -1}, {"base_type": "BASE_TYPE_GENERATIVE"}, {"prefix": ""}],
)
def test_seeding_refuses_bad_options(sandbox: RunningSandbox, options: dict[str, Any]) -> None:
    with pytest.raises(SandboxControlError):
        sandbox.control.seed("cohere", 1, **options)


def test_an_injected_error_answers_in_cohere_error_shape(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    sandbox.control.add_fault(
        kind="error", provider="cohere", path=MODELS_PATH, status=503, count=1
    )
    failed = api.get(MODELS_PATH)
    assert failed.status_code == 503
    assert set(failed.json()) == {"message"}
    assert api.get(MODELS_PATH).status_code == 200


def test_models_and_datasets_survive_a_restart(tmp_path: Path) -> None:
    with start_sandbox(data_dir=tmp_path) as first, checked_client(first) as client:
        dataset_id = validated_chat_dataset(first, client)
        model_id = create_model(client, model_body(dataset_id, name="durable"))["id"]
    with start_sandbox(data_dir=tmp_path) as second, checked_client(second) as client:
        assert get_model(client, model_id)["name"] == "durable"
        assert client.get(f"/v1/datasets/{dataset_id}").status_code == 200


def test_a_create_whose_response_is_lost_is_still_listed(
    sandbox: RunningSandbox, api: httpx.Client, dataset_id: str
) -> None:
    sandbox.control.add_fault(
        kind="lost_response", method="POST", provider="cohere", path=MODELS_PATH, count=1
    )
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(MODELS_PATH, json=model_body(dataset_id, name="lost"))
    listed = list_page(api)["finetuned_models"]
    assert [model["name"] for model in listed] == ["lost"]


@pytest.mark.parametrize("header", [None, "Bearer wrong-key"])
def test_a_missing_or_wrong_key_is_401(sandbox: RunningSandbox, header: str | None) -> None:
    with checked_client(sandbox) as client:
        if header is None:
            client.headers.pop("Authorization")
        else:
            client.headers["Authorization"] = header
        for response in (
            client.get(MODELS_PATH),
            client.post(MODELS_PATH, json={"name": "x"}),
            client.delete(f"{MODELS_PATH}/some-id"),
        ):
            assert response.status_code == 401
            assert response.json() == {"message": "invalid api token"}
