"""Contract tests of the Qubrid emulator's fine-tuning jobs over real HTTP (CONTRACTS.md §B).

Every response goes through ``checked_client``, so each one is also validated against
``qubrid-openapi.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox, SandboxControlError
from tests.sandbox.qubrid_support import (
    BASE_MODEL,
    QUEUED_SECONDS,
    TRAINING_SECONDS,
    checked_client,
    create_job,
    created_job,
    error_code,
    get_job,
    uploaded_dataset,
)

ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


@pytest.fixture
def dataset_id(api: httpx.Client) -> str:
    dataset_id: str = uploaded_dataset(api)["id"]
    return dataset_id


def test_create_answers_201_with_a_queued_job_and_no_name_or_suffix(
    api: httpx.Client, dataset_id: str
) -> None:
    response = create_job(
        api,
        dataset_id,
        task_type="not_qa",
        suffix="mascot-v1",
        hyperparameters={"epochs": 2, "max_steps": 50, "learning_rate": 1e-4},
    )

    assert response.status_code == 201
    job = response.json()
    assert job["status"] == "queued"
    assert job["base_model"] == BASE_MODEL
    assert job["dataset_id"] == dataset_id
    assert job["task_type"] == "not_qa"
    assert job["hyperparameters"] == {"epochs": 2, "max_steps": 50, "learning_rate": 1e-4}
    assert ISO_SECONDS.match(job["created_at"])
    # Qubrid's FineTuningJob has no name or suffix; nothing of a finished job shows yet.
    assert set(job) == {
        "id", "status", "base_model", "dataset_id", "task_type", "hyperparameters", "created_at"
    }  # fmt: skip


def test_missing_hyperparameters_are_filled_with_the_sandbox_defaults(
    api: httpx.Client, dataset_id: str
) -> None:
    job = created_job(api, dataset_id, hyperparameters={"validation_split": 0.25})

    assert job["hyperparameters"] == {
        "epochs": 3,
        "learning_rate": 0.0002,
        "validation_split": 0.25,
    }


def test_get_returns_the_created_job(api: httpx.Client, dataset_id: str) -> None:
    job = created_job(api, dataset_id)

    assert get_job(api, job["id"]) == job


def test_get_of_an_unknown_job_is_404(api: httpx.Client) -> None:
    response = api.get("/fine-tuning/jobs/ftjob-missing")

    assert response.status_code == 404
    assert error_code(response) == "job_not_found"
    assert response.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("fields", "code", "mentions"),
    [
        ({"base_model": None}, "missing_required_field", "base_model"),
        ({"base_model": ""}, "invalid_value", "base_model"),
        ({"task_type": None}, "missing_required_field", "task_type"),
        ({"task_type": "chat"}, "invalid_task_type", "qa, not_qa"),
        ({"hyperparameters": {"epochs": 0}}, "invalid_hyperparameters", "epochs"),
        ({"hyperparameters": {"epochs": 1.5}}, "invalid_hyperparameters", "epochs"),
        ({"hyperparameters": {"epochs": True}}, "invalid_hyperparameters", "epochs"),
        ({"hyperparameters": {"max_steps": -3}}, "invalid_hyperparameters", "max_steps"),
        ({"hyperparameters": {"learning_rate": 0}}, "invalid_hyperparameters", "learning_rate"),
        ({"hyperparameters": {"learning_rate": "x"}}, "invalid_hyperparameters", "learning_rate"),
        ({"hyperparameters": {"validation_split": 2}}, "invalid_hyperparameters", "split"),
        ({"hyperparameters": [1]}, "invalid_hyperparameters", "hyperparameters"),
        ({"suffix": "x" * 65}, "invalid_suffix", "64"),
        ({"suffix": 7}, "invalid_suffix", "suffix"),
        ({"dataset_id": "ds-missing"}, "dataset_not_found", "ds-missing"),
    ],
)  # fmt: skip
def test_invalid_create_is_400_naming_the_field(
    api: httpx.Client, dataset_id: str, fields: dict[str, Any], code: str, mentions: str
) -> None:
    body: dict[str, Any] = {"base_model": BASE_MODEL, "dataset_id": dataset_id, "task_type": "qa"}
    body.update(fields)
    body = {key: value for key, value in body.items() if value is not None}

    response = api.post("/fine-tuning/jobs", json=body)

    assert response.status_code == 400
    assert error_code(response) == code
    assert mentions in response.json()["error"]["message"]
    assert api.get("/fine-tuning/jobs").json()["total"] == 0


def test_boundary_values_are_accepted(api: httpx.Client, dataset_id: str) -> None:
    job = created_job(
        api,
        dataset_id,
        suffix="x" * 64,
        hyperparameters={"epochs": 1, "max_steps": 1, "validation_split": 0, "learning_rate": 1},
    )

    assert job["hyperparameters"]["validation_split"] == 0
    assert job["hyperparameters"]["max_steps"] == 1


def test_a_body_that_is_not_json_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/fine-tuning/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_list_pages_newest_first_with_total(api: httpx.Client, sandbox: RunningSandbox) -> None:
    ids = []
    for _ in range(5):
        ids.append(created_job(api)["id"])
        sandbox.control.advance_clock(1)
    newest_first = list(reversed(ids))

    first = api.get("/fine-tuning/jobs", params={"limit": 2}).json()
    second = api.get("/fine-tuning/jobs", params={"limit": 2, "offset": 2}).json()
    past_the_end = api.get("/fine-tuning/jobs", params={"offset": 10}).json()

    assert [job["id"] for job in first["data"]] == newest_first[:2]
    assert [job["id"] for job in second["data"]] == newest_first[2:4]
    assert first["total"] == second["total"] == past_the_end["total"] == 5
    assert past_the_end["data"] == []


def test_list_order_is_stable_for_jobs_created_at_the_same_instant(api: httpx.Client) -> None:
    ids = [created_job(api)["id"] for _ in range(4)]

    listed = [job["id"] for job in api.get("/fine-tuning/jobs").json()["data"]]

    assert listed == list(reversed(ids))


def test_list_limit_defaults_to_20(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.seed("qubrid", 25)

    page = api.get("/fine-tuning/jobs").json()

    assert len(page["data"]) == 20
    assert page["total"] == 25


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"offset": -1}, "invalid_offset"),
        ({"offset": "x"}, "invalid_offset"),
    ],
)
def test_list_rejects_out_of_range_paging_with_400(
    api: httpx.Client, params: dict[str, Any], code: str
) -> None:
    response = api.get("/fine-tuning/jobs", params=params)

    assert response.status_code == 400
    assert error_code(response) == code


def test_limit_100_is_the_largest_page(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.seed("qubrid", 130)

    page = api.get("/fine-tuning/jobs", params={"limit": 100, "offset": 0}).json()

    assert len(page["data"]) == 100
    assert page["total"] == 130


def test_lifecycle_walks_queued_running_completed_on_the_clock(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job = created_job(api, hyperparameters={"epochs": 2, "validation_split": 0.2})
    assert "training_metrics" not in job

    sandbox.control.advance_clock(QUEUED_SECONDS + TRAINING_SECONDS * 0.25)
    early = get_job(api, job["id"])
    sandbox.control.advance_clock(TRAINING_SECONDS * 0.5)
    later = get_job(api, job["id"])
    sandbox.control.advance_clock(TRAINING_SECONDS * 0.25)
    done = get_job(api, job["id"])

    assert early["status"] == later["status"] == "running"
    assert "fine_tuned_model" not in later
    assert "completed_at" not in later
    assert early["training_metrics"]["training_loss"] > 0
    assert later["training_metrics"]["training_loss"] < early["training_metrics"]["training_loss"]
    assert "validation_loss" in later["training_metrics"]
    assert done["status"] == "completed"
    assert done["training_metrics"]["epochs_completed"] == 2
    assert (
        done["training_metrics"]["steps_completed"] >= later["training_metrics"]["steps_completed"]
    )
    assert ISO_SECONDS.match(done["completed_at"])
    assert done["fine_tuned_model"].startswith("ft-")


def test_metrics_fill_in_progressively_on_a_longer_run(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    rows = "".join(f"q{index},a{index}\n" for index in range(160))
    dataset = uploaded_dataset(api, content=f"question,answer\n{rows}".encode())
    job = created_job(api, dataset["id"], hyperparameters={"epochs": 4})
    sandbox.control.advance_clock(QUEUED_SECONDS)

    steps = []
    epochs = []
    for _ in range(4):
        sandbox.control.advance_clock(TRAINING_SECONDS / 4)
        metrics = get_job(api, job["id"])["training_metrics"]
        steps.append(metrics["steps_completed"])
        epochs.append(metrics["epochs_completed"])

    # 160 rows at 8 rows a step: 20 steps an epoch, 80 in all.
    assert steps == [20, 40, 60, 80]
    assert epochs == [1, 2, 3, 4]


def test_max_steps_caps_training(api: httpx.Client, sandbox: RunningSandbox) -> None:
    job = created_job(api, hyperparameters={"epochs": 10, "max_steps": 1})

    sandbox.control.advance("qubrid", "jobs", job["id"], to="completed")

    assert get_job(api, job["id"])["training_metrics"]["steps_completed"] == 1


def test_control_advance_moves_one_job_only(api: httpx.Client, sandbox: RunningSandbox) -> None:
    moved = created_job(api)
    still = created_job(api)

    sandbox.control.advance("qubrid", "jobs", moved["id"], to="running")

    assert get_job(api, moved["id"])["status"] == "running"
    assert get_job(api, still["id"])["status"] == "queued"


def test_cancel_discards_partial_progress(api: httpx.Client, sandbox: RunningSandbox) -> None:
    job = created_job(api)
    sandbox.control.advance_clock(QUEUED_SECONDS + TRAINING_SECONDS / 2)
    assert "training_metrics" in get_job(api, job["id"])

    response = api.post(f"/fine-tuning/jobs/{job['id']}/cancel")
    sandbox.control.advance_clock(TRAINING_SECONDS)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert "training_metrics" not in response.json()
    after = get_job(api, job["id"])
    assert after["status"] == "cancelled"
    assert "training_metrics" not in after
    assert "fine_tuned_model" not in after
    assert api.get("/fine-tuning/models").json()["data"] == []


def test_cancel_of_a_queued_job(api: httpx.Client) -> None:
    job = created_job(api)

    response = api.post(f"/fine-tuning/jobs/{job['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_cancel_of_a_finished_job_leaves_it_unchanged(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job = created_job(api)
    sandbox.control.advance("qubrid", "jobs", job["id"], to="completed")
    finished = get_job(api, job["id"])

    response = api.post(f"/fine-tuning/jobs/{job['id']}/cancel")

    assert response.status_code == 200
    assert response.json() == finished


def test_cancel_of_an_unknown_job_is_404(api: httpx.Client) -> None:
    response = api.post("/fine-tuning/jobs/ftjob-missing/cancel")

    assert response.status_code == 404
    assert error_code(response) == "job_not_found"


def test_control_fail_shows_failed_with_the_message(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job = created_job(api)
    sandbox.control.advance_clock(QUEUED_SECONDS + TRAINING_SECONDS / 2)

    sandbox.control.fail("qubrid", "jobs", job["id"], "CUDA out of memory at step 3")
    sandbox.control.advance_clock(TRAINING_SECONDS)

    failed = get_job(api, job["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["message"] == "CUDA out of memory at step 3"
    # The metrics reached before the failure stay; no model is produced.
    assert failed["training_metrics"]["steps_completed"] >= 0
    assert "fine_tuned_model" not in failed
    assert api.get("/fine-tuning/models").json()["data"] == []


def test_control_fail_in_the_future(api: httpx.Client, sandbox: RunningSandbox) -> None:
    job = created_job(api)

    sandbox.control.fail("qubrid", "jobs", job["id"], "node lost", in_seconds=100)
    before = get_job(api, job["id"])["status"]
    sandbox.control.advance_clock(100)

    assert before == "queued"
    assert get_job(api, job["id"])["status"] == "failed"


def test_console_cancel_out_of_band(api: httpx.Client, sandbox: RunningSandbox) -> None:
    job = created_job(api)
    sandbox.control.advance_clock(QUEUED_SECONDS + 1)

    answer = sandbox.control.http.post(f"/qubrid/jobs/{job['id']}/cancel")

    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    assert get_job(api, job["id"])["status"] == "cancelled"
    assert sandbox.control.http.post("/qubrid/jobs/ftjob-missing/cancel").status_code == 404


def test_credits_exhausted_answers_402_and_creates_nothing(
    api: httpx.Client, sandbox: RunningSandbox, dataset_id: str
) -> None:
    assert sandbox.control.http.put("/qubrid/credits", json={"credits": 1}).status_code == 200

    first = create_job(api, dataset_id)
    second = create_job(api, dataset_id)

    assert first.status_code == 201
    assert second.status_code == 402
    assert error_code(second) == "insufficient_credits"
    assert second.json()["error"]["type"] == "billing_error"
    assert api.get("/fine-tuning/jobs").json()["total"] == 1
    assert sandbox.control.http.get("/qubrid/credits").json() == {"credits": 0}


def test_credits_can_be_made_unlimited_again(
    api: httpx.Client, sandbox: RunningSandbox, dataset_id: str
) -> None:
    sandbox.control.http.put("/qubrid/credits", json={"credits": 0})
    assert create_job(api, dataset_id).status_code == 402

    sandbox.control.http.put("/qubrid/credits", json={"credits": None})

    assert create_job(api, dataset_id).status_code == 201


@pytest.mark.parametrize("body", [{"credits": -1}, {"credits": "lots"}, {}, {"credits": True}])
def test_credits_control_rejects_bad_values(sandbox: RunningSandbox, body: dict[str, Any]) -> None:
    response = sandbox.control.http.put("/qubrid/credits", json=body)

    assert response.status_code == 400
    assert "credits" in response.json()["error"]


def test_list_lag_hides_new_jobs_until_the_lag_has_passed(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    old = created_job(api)
    sandbox.control.advance_clock(60)
    sandbox.control.add_fault(
        kind="list_lag", provider="qubrid", method="GET", path="/fine-tuning/jobs", lag=30
    )
    new = created_job(api)

    lagging = api.get("/fine-tuning/jobs").json()
    direct = get_job(api, new["id"])
    sandbox.control.advance_clock(31)
    caught_up = api.get("/fine-tuning/jobs").json()

    assert [job["id"] for job in lagging["data"]] == [old["id"]]
    assert lagging["total"] == 1
    assert direct["id"] == new["id"]
    assert [job["id"] for job in caught_up["data"]] == [new["id"], old["id"]]
    assert caught_up["total"] == 2


def test_seed_creates_jobs_with_datasets_in_every_status(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    assert sandbox.control.seed("qubrid", 40, prefix="bulk") == 40

    jobs: list[dict[str, Any]] = []
    for offset in (0, 20):
        jobs += api.get("/fine-tuning/jobs", params={"limit": 20, "offset": offset}).json()["data"]
    statuses = [job["status"] for job in jobs]
    datasets = api.get("/fine-tuning/datasets").json()["data"]
    models = api.get("/fine-tuning/models").json()["data"]

    assert statuses.count("completed") == 32
    assert statuses.count("running") == statuses.count("queued") == 2
    assert statuses.count("failed") == statuses.count("cancelled") == 2
    assert len({job["id"] for job in jobs}) == 40
    assert {dataset["id"] for dataset in datasets} == {job["dataset_id"] for job in jobs}
    assert sorted(dataset["name"] for dataset in datasets)[:2] == [
        "bulk-00000.csv",
        "bulk-00001.csv",
    ]
    assert len(models) == 32
    assert {model["status"] for model in models} == {"available"}


def test_seeded_active_jobs_go_on_to_complete(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.seed("qubrid", 3, status="queued")

    sandbox.control.advance_clock(QUEUED_SECONDS + TRAINING_SECONDS)

    statuses = {job["status"] for job in api.get("/fine-tuning/jobs").json()["data"]}
    assert statuses == {"completed"}


@pytest.mark.parametrize(
    "options",
    [{"status": "paused"}, {"age_seconds": 10}, {"prefix": ""}, {"colour": "blue"}],
)
def test_seed_rejects_bad_options(sandbox: RunningSandbox, options: dict[str, Any]) -> None:
    with pytest.raises(SandboxControlError):
        sandbox.control.seed("qubrid", 1, **options)


def test_seeded_jobs_are_listed_in_a_stable_order_across_pages(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.seed("qubrid", 250, spacing_seconds=0)

    seen: list[str] = []
    for offset in range(0, 250, 100):
        page = api.get("/fine-tuning/jobs", params={"limit": 100, "offset": offset}).json()
        seen += [job["id"] for job in page["data"]]

    assert len(seen) == len(set(seen)) == 250
