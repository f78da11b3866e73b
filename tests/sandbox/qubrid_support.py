"""Helpers for the Qubrid emulator's tests: a checked client, CSV files, uploads and jobs.

``checked_client`` returns an ``httpx.Client`` on the sandbox's ``/qubrid/api/v1`` mount whose
every response is validated against ``provider_documents/qubrid-openapi.yaml`` before the
test sees it: the operation's documented status, content type and body schema; an error status
the operation does not document must still be an ``ErrorResponse``.
"""

from __future__ import annotations

from typing import Any

import httpx

from reconcile_sandbox.qubrid.lifecycle import (
    DEPLOYING_SECONDS,
    QUEUED_SECONDS,
    TRAINING_SECONDS,
)
from reconcile_sandbox.testing import RunningSandbox
from tests.sandbox.openapi_check import OpenApiDocument, provider_document

__all__ = [
    "BASE_MODEL",
    "DEPLOYING_SECONDS",
    "QA_CSV",
    "QUBRID_MOUNT",
    "QUEUED_SECONDS",
    "TRAINING_SECONDS",
    "checked_client",
    "create_job",
    "created_job",
    "error_code",
    "get_job",
    "qubrid_document",
    "upload",
    "uploaded_dataset",
]

QUBRID_DOCUMENT_FILE = "qubrid-openapi.yaml"
QUBRID_MOUNT = "/qubrid/api/v1"
QA_CSV = b'question,answer\nWhat is 1+1?,2\nWhat is 2+2?,4\n"Say, hello","hello, world"\n'
BASE_MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"


def qubrid_document() -> OpenApiDocument:
    return provider_document(QUBRID_DOCUMENT_FILE, QUBRID_MOUNT)


def checked_client(sandbox: RunningSandbox, key: str | None = None) -> httpx.Client:
    """A client whose every response must match the Qubrid OpenAPI document."""
    document = qubrid_document()

    def check(response: httpx.Response) -> None:
        document.check(response, undocumented_errors="ErrorResponse")

    return httpx.Client(
        base_url=sandbox.base_url("qubrid"),
        headers={"Authorization": f"Bearer {key or sandbox.keys['qubrid']}"},
        event_hooks={"response": [check]},
        timeout=30.0,
    )


def upload(
    client: httpx.Client,
    content: bytes = QA_CSV,
    filename: str = "qa.csv",
    name: str | None = None,
) -> httpx.Response:
    data = {"name": name} if name is not None else None
    return client.post(
        "/fine-tuning/datasets", files={"file": (filename, content, "text/csv")}, data=data
    )


def uploaded_dataset(client: httpx.Client, **kwargs: Any) -> dict[str, Any]:
    response = upload(client, **kwargs)
    assert response.status_code == 201, response.text
    dataset: dict[str, Any] = response.json()
    return dataset


def create_job(client: httpx.Client, dataset_id: str, **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"base_model": BASE_MODEL, "dataset_id": dataset_id, "task_type": "qa"}
    body.update(fields)
    return client.post("/fine-tuning/jobs", json=body)


def created_job(
    client: httpx.Client, dataset_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    if dataset_id is None:
        dataset_id = uploaded_dataset(client)["id"]
    response = create_job(client, dataset_id, **fields)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def get_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/fine-tuning/jobs/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code
