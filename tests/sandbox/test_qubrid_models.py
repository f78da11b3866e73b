"""Contract tests of the Qubrid emulator's fine-tuned models and its authentication.

Every response goes through ``checked_client``, so each one is also validated against
``qubrid-openapi.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.sandbox.qubrid_support import (
    BASE_MODEL,
    DEPLOYING_SECONDS,
    QA_CSV,
    checked_client,
    created_job,
    error_code,
    get_job,
    qubrid_document,
)


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


def completed_job(api: httpx.Client, sandbox: RunningSandbox, **fields: Any) -> dict[str, Any]:
    job = created_job(api, **fields)
    sandbox.control.advance("qubrid", "jobs", job["id"], to="completed")
    return get_job(api, job["id"])


def test_a_completed_job_produces_a_model_that_deploys_then_is_available(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job = completed_job(api, sandbox, suffix="support-bot")

    deploying = api.get("/fine-tuning/models").json()["data"]
    sandbox.control.advance_clock(DEPLOYING_SECONDS)
    available = api.get("/fine-tuning/models").json()["data"]

    assert [model["id"] for model in deploying] == [job["fine_tuned_model"]]
    assert deploying[0]["status"] == "deploying"
    assert deploying[0]["job_id"] == job["id"]
    assert deploying[0]["base_model"] == BASE_MODEL
    assert deploying[0]["created_at"] == job["completed_at"]
    assert available[0]["status"] == "available"
    # The suffix is appended to the model's name.
    assert "support-bot" in job["fine_tuned_model"]


def test_jobs_that_have_not_completed_have_no_model(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    created_job(api)
    running = created_job(api)
    sandbox.control.advance("qubrid", "jobs", running["id"], to="running")

    assert api.get("/fine-tuning/models").json() == {"data": []}


def test_models_are_listed_newest_first(api: httpx.Client, sandbox: RunningSandbox) -> None:
    older = completed_job(api, sandbox)
    sandbox.control.advance_clock(1)
    newer = completed_job(api, sandbox)

    listed = [model["id"] for model in api.get("/fine-tuning/models").json()["data"]]

    assert listed == [newer["fine_tuned_model"], older["fine_tuned_model"]]


def test_delete_answers_204_and_the_model_is_listed_as_deleted(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job = completed_job(api, sandbox)

    response = api.delete(f"/fine-tuning/models/{job['fine_tuned_model']}")

    assert response.status_code == 204
    assert response.content == b""
    models = api.get("/fine-tuning/models").json()["data"]
    assert [(model["id"], model["status"]) for model in models] == [
        (job["fine_tuned_model"], "deleted")
    ]
    # The job still names the model it produced.
    assert get_job(api, job["id"])["fine_tuned_model"] == job["fine_tuned_model"]


def test_deleting_a_deleted_model_is_404(api: httpx.Client, sandbox: RunningSandbox) -> None:
    job = completed_job(api, sandbox)
    api.delete(f"/fine-tuning/models/{job['fine_tuned_model']}")

    again = api.delete(f"/fine-tuning/models/{job['fine_tuned_model']}")

    assert again.status_code == 404
    assert error_code(again) == "model_not_found"


def test_delete_of_an_unknown_model_is_404(api: httpx.Client) -> None:
    response = api.delete("/fine-tuning/models/ft-nothing-here")

    assert response.status_code == 404
    assert error_code(response) == "model_not_found"


def test_the_model_of_a_job_still_running_cannot_be_deleted(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job = created_job(api)
    model_id = sandbox.control.get("qubrid", "jobs", job["id"])["row"]["fine_tuned_model"]

    response = api.delete(f"/fine-tuning/models/{model_id}")

    assert response.status_code == 404


def test_list_lag_hides_models_that_appeared_recently(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(kind="list_lag", provider="qubrid", path="/fine-tuning/models")
    job = created_job(api)
    sandbox.control.advance_clock(31)
    sandbox.control.advance("qubrid", "jobs", job["id"], to="completed")

    hidden = api.get("/fine-tuning/models").json()["data"]
    sandbox.control.advance_clock(30)
    shown = api.get("/fine-tuning/models").json()["data"]

    assert hidden == []
    assert [model["job_id"] for model in shown] == [job["id"]]


ENDPOINTS = [
    ("GET", "/fine-tuning/jobs"),
    ("POST", "/fine-tuning/jobs"),
    ("GET", "/fine-tuning/jobs/ftjob-x"),
    ("POST", "/fine-tuning/jobs/ftjob-x/cancel"),
    ("GET", "/fine-tuning/datasets"),
    ("POST", "/fine-tuning/datasets"),
    ("GET", "/fine-tuning/datasets/ds-x"),
    ("DELETE", "/fine-tuning/datasets/ds-x"),
    ("GET", "/fine-tuning/models"),
    ("DELETE", "/fine-tuning/models/ft-x"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "sandbox-qubrid-key", "Basic c2FuZGJveA=="]
)
def test_every_endpoint_answers_401_without_the_right_bearer_key(
    sandbox: RunningSandbox, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with checked_client(sandbox) as client:
        client.headers.pop("Authorization")
        response = client.request(method, path, headers=headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["code"] == "invalid_api_key"
    assert sandbox.keys["qubrid"] not in response.text


def test_the_bearer_scheme_is_case_insensitive(sandbox: RunningSandbox) -> None:
    with checked_client(sandbox) as client:
        response = client.get(
            "/fine-tuning/jobs", headers={"Authorization": f"bearer {sandbox.keys['qubrid']}"}
        )

    assert response.status_code == 200


def test_a_401_does_not_create_anything(sandbox: RunningSandbox) -> None:
    with checked_client(sandbox, key="wrong-key") as intruder:
        refused = intruder.post(
            "/fine-tuning/datasets", files={"file": ("qa.csv", QA_CSV, "text/csv")}
        )
    with checked_client(sandbox) as api:
        listed = api.get("/fine-tuning/datasets").json()

    assert refused.status_code == 401
    assert listed == {"data": []}


def test_an_unknown_path_answers_in_qubrids_error_shape(sandbox: RunningSandbox) -> None:
    response = httpx.get(
        sandbox.base_url("qubrid") + "/fine-tuning/checkpoints",
        headers={"Authorization": f"Bearer {sandbox.keys['qubrid']}"},
    )

    assert response.status_code == 404
    qubrid_document().check_schema("ErrorResponse", response.json())
    assert set(response.json()["error"]) == {"message", "type", "code"}


@pytest.mark.parametrize(
    ("kind", "fault", "status"),
    [("error", {"status": 503}, 503), ("rate_limit", {"retry_after": 2}, 429)],
)
def test_injected_errors_use_qubrids_error_shape(
    api: httpx.Client, sandbox: RunningSandbox, kind: str, fault: dict[str, Any], status: int
) -> None:
    sandbox.control.add_fault(kind=kind, provider="qubrid", path="/fine-tuning/jobs", **fault)

    response = api.get("/fine-tuning/jobs")

    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"}
    assert error["type"] == ("api_error" if status == 503 else "rate_limit_error")
