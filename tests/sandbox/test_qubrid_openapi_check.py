"""The response checker itself: it must reject what the Qubrid document does not allow.

Without these, a checker that silently passed everything would make every contract test's
schema validation worthless. Responses here come from an in-process mock transport.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.openapi_check import ResponseMismatch
from tests.sandbox.qubrid_support import QUBRID_MOUNT, qubrid_document

GOOD_JOB: dict[str, Any] = {
    "id": "ftjob-1",
    "status": "completed",
    "base_model": "m",
    "dataset_id": "ds-1",
    "task_type": "qa",
    "hyperparameters": {"epochs": 1},
    "fine_tuned_model": "ft-1",
    "training_metrics": {"training_loss": 0.5, "steps_completed": 3, "epochs_completed": 1},
    "created_at": "2026-11-24T22:00:00Z",
    "completed_at": "2026-11-24T22:10:00Z",
}


def answer(status: int, body: Any = None, content_type: str = "application/json") -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status)
        content = body if isinstance(body, bytes) else httpx.Response(200, json=body).content
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    return httpx.Client(
        transport=httpx.MockTransport(handler), base_url=f"http://127.0.0.1:9{QUBRID_MOUNT}"
    )


def test_a_valid_job_passes() -> None:
    response = answer(200, GOOD_JOB).get("/fine-tuning/jobs/ftjob-1")

    assert qubrid_document().check(response) is response


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"status": "done"}, "status"),
        ({"fine_tuned_model": None}, "fine_tuned_model"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"hyperparameters": {"epochs": 0}}, "epochs"),
        ({"training_metrics": {"steps_completed": 1.5}}, "steps_completed"),
    ],
)
def test_a_job_outside_the_schema_is_rejected(change: dict[str, Any], mentions: str) -> None:
    response = answer(200, {**GOOD_JOB, **change}).get("/fine-tuning/jobs/ftjob-1")

    with pytest.raises(ResponseMismatch, match=mentions):
        qubrid_document().check(response)


def test_an_undocumented_status_is_rejected() -> None:
    response = answer(200, GOOD_JOB).post("/fine-tuning/jobs", json={})

    with pytest.raises(ResponseMismatch, match="200"):
        qubrid_document().check(response)


def test_an_undocumented_error_must_match_the_named_schema() -> None:
    good = answer(400, {"error": {"message": "m", "type": "t", "code": "c"}}).get(
        "/fine-tuning/jobs"
    )
    bad = answer(400, {"error": {"message": 3}}).get("/fine-tuning/jobs")
    not_json = answer(400, b"oops", "text/plain").get("/fine-tuning/jobs")

    qubrid_document().check(good, undocumented_errors="ErrorResponse")
    with pytest.raises(ResponseMismatch, match="message"):
        qubrid_document().check(bad, undocumented_errors="ErrorResponse")
    with pytest.raises(ResponseMismatch, match="not application/json"):
        qubrid_document().check(not_json, undocumented_errors="ErrorResponse")
    with pytest.raises(ResponseMismatch):
        qubrid_document().check(good)


def test_a_204_with_a_body_type_it_does_not_document_is_rejected() -> None:
    response = answer(204).delete("/fine-tuning/datasets/ds-1")
    wrong_type = answer(200, b"<html/>", "text/html").get("/fine-tuning/datasets")

    qubrid_document().check(response)
    with pytest.raises(ResponseMismatch):
        qubrid_document().check(wrong_type)


def test_an_unknown_path_is_rejected() -> None:
    response = answer(200, {}).get("/fine-tuning/checkpoints")

    with pytest.raises(ResponseMismatch, match="PathNotFound"):
        qubrid_document().check(response)


def test_check_schema_validates_one_component() -> None:
    document = qubrid_document()

    document.check_schema("Dataset", {"id": "ds-1", "columns": ["a"], "row_count": 1})
    with pytest.raises(ResponseMismatch, match="columns"):
        document.check_schema("Dataset", {"id": "ds-1", "columns": "a"})
    with pytest.raises(KeyError):
        document.check_schema("Nothing", {})
