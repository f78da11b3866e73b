"""Helpers for the Cohere emulator's tests: a checked client, dataset files, uploads.

``checked_client`` returns an ``httpx.Client`` on the sandbox's ``/cohere`` mount whose every
response is validated against ``provider_documents/cohere-openapi-finetuning.yaml`` (status,
content type and body schema of the operation the request matched) before the test sees it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from reconcile_sandbox.testing import RunningSandbox
from tests.sandbox.openapi_check import OpenApiDocument, provider_document

COHERE_DOCUMENT_FILE = "cohere-openapi-finetuning.yaml"
MODELS_PATH = "/v1/finetuning/finetuned-models"
DATASET_VALIDATION_SECONDS = 7.0
MODEL_READY_SECONDS = 30.0 + 1200.0 + 30.0


def cohere_document() -> OpenApiDocument:
    return provider_document(COHERE_DOCUMENT_FILE, "/cohere")


def checked_client(sandbox: RunningSandbox, key: str | None = None) -> httpx.Client:
    """A client whose responses must all match the OpenAPI document."""
    document = cohere_document()

    def check(response: httpx.Response) -> None:
        # Every status the emulator answers (200, 400, 401, 404, faults' 503) is documented for
        # each Cohere operation, so no undocumented error is tolerated.
        document.check(response)

    return httpx.Client(
        base_url=sandbox.base_url("cohere"),
        headers={"Authorization": f"Bearer {key or sandbox.keys['cohere']}"},
        event_hooks={"response": [check]},
        timeout=30.0,
    )


def chat_line(index: int, *, system: str | None = "You are a helpful assistant.") -> str:
    messages: list[dict[str, str]] = []
    if system is not None:
        messages.append({"role": "System", "content": system})
    messages.append({"role": "User", "content": f"What is {index} plus one?"})
    messages.append({"role": "Chatbot", "content": f"It is {index + 1}."})
    return json.dumps({"messages": messages})


def chat_jsonl(count: int = 10) -> bytes:
    return "\n".join(chat_line(index) for index in range(count)).encode()


def classification_csv(labels: dict[str, int]) -> bytes:
    rows = ["text,label"]
    for label, count in labels.items():
        rows.extend(f"example {index} about {label},{label}" for index in range(count))
    return "\n".join(rows).encode()


def upload(
    client: httpx.Client,
    content: bytes,
    *,
    name: str = "chat-data",
    dataset_type: str = "chat-finetune-input",
    filename: str = "train.jsonl",
    eval_content: bytes | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    """Upload a dataset; returns its id."""
    files: dict[str, tuple[str, bytes]] = {"data": (filename, content)}
    if eval_content is not None:
        files["eval_data"] = ("eval.jsonl", eval_content)
    response = client.post(
        "/v1/datasets",
        params={"name": name, "type": dataset_type, **(params or {})},
        files=files,
    )
    assert response.status_code == 200, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


def dataset(client: httpx.Client, dataset_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/datasets/{dataset_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["dataset"]
    return result


def validated_chat_dataset(sandbox: RunningSandbox, client: httpx.Client) -> str:
    dataset_id = upload(client, chat_jsonl())
    sandbox.control.advance_clock(DATASET_VALIDATION_SECONDS)
    assert dataset(client, dataset_id)["validation_status"] == "validated"
    return dataset_id


def model_body(dataset_id: str, name: str = "support-bot", **settings: Any) -> dict[str, Any]:
    return {
        "name": name,
        "settings": {
            "base_model": {"base_type": "BASE_TYPE_CHAT"},
            "dataset_id": dataset_id,
            **settings,
        },
    }


def create_model(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(MODELS_PATH, json=body)
    assert response.status_code == 200, response.text
    model: dict[str, Any] = response.json()["finetuned_model"]
    return model
