"""Contract tests of the Qubrid emulator's datasets over real HTTP: multipart CSV upload and
the 201/204/404/409 codes (CONTRACTS.md §B).

Every response goes through ``checked_client``, so each one is also validated against
``qubrid-openapi.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.sandbox.qubrid_support import (
    QA_CSV,
    QUEUED_SECONDS,
    checked_client,
    created_job,
    error_code,
    upload,
    uploaded_dataset,
)


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


def test_upload_answers_201_with_size_rows_and_columns(api: httpx.Client) -> None:
    response = upload(api, QA_CSV, "faq.csv")

    assert response.status_code == 201
    dataset = response.json()
    assert dataset["name"] == "faq.csv"
    assert dataset["size_bytes"] == len(QA_CSV)
    assert dataset["row_count"] == 3  # a quoted comma does not split a field
    assert dataset["columns"] == ["question", "answer"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", dataset["created_at"])


def test_upload_with_a_name_uses_it(api: httpx.Client) -> None:
    dataset = uploaded_dataset(api, name="support-bot-3f2a9c1d0e4b")

    assert dataset["name"] == "support-bot-3f2a9c1d0e4b"


def test_upload_with_an_empty_name_falls_back_to_the_file_name(api: httpx.Client) -> None:
    dataset = uploaded_dataset(api, filename="chat.CSV", name="")

    assert dataset["name"] == "chat.CSV"


def test_a_name_of_256_characters_is_accepted_and_257_refused(api: httpx.Client) -> None:
    accepted = upload(api, name="n" * 256)
    refused = upload(api, name="n" * 257)

    assert accepted.status_code == 201
    assert refused.status_code == 400
    assert error_code(refused) == "invalid_name"


def test_windows_paths_in_the_file_name_are_reduced_to_the_name(api: httpx.Client) -> None:
    dataset = uploaded_dataset(api, filename="C:\\data\\train.csv")

    assert dataset["name"] == "train.csv"


@pytest.mark.parametrize("filename", ["train.jsonl", "train.csv.zip", "train", "train.tsv"])
def test_upload_of_a_file_that_is_not_csv_is_400(api: httpx.Client, filename: str) -> None:
    response = upload(api, QA_CSV, filename)

    assert response.status_code == 400
    assert error_code(response) == "unsupported_file_type"
    assert filename in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b"", "empty"),
        (b"question,answer\n", "no data rows"),
        (b"question,answer\nonly-one-field\n", "line 2 has 1 fields"),
        (b"question,\nq,a\n", "header column 2 has no name"),
        (b"text,text\na,b\n", "repeats column name"),
        (b'question,answer\n"unterminated,a\n', "line"),
        (b"question,answer\n\xff\xfe,a\n", "not UTF-8"),
    ],
)
def test_upload_of_a_malformed_csv_is_400_saying_why(
    api: httpx.Client, content: bytes, mentions: str
) -> None:
    response = upload(api, content, "broken.csv")

    assert response.status_code == 400
    assert error_code(response) == "malformed_csv"
    message = response.json()["error"]["message"]
    assert "broken.csv" in message
    assert mentions in message
    assert api.get("/fine-tuning/datasets").json()["data"] == []


def test_upload_without_the_file_field_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/fine-tuning/datasets", files={"other": ("qa.csv", QA_CSV)}, data={"name": "x"}
    )

    assert response.status_code == 400
    assert error_code(response) == "missing_file"


def test_upload_with_file_as_a_text_field_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/fine-tuning/datasets",
        data={"file": "question,answer\nq,a\n"},
        files={"name": ("name.txt", b"x")},
    )

    assert response.status_code == 400
    assert error_code(response) == "missing_file"


def test_upload_that_is_not_multipart_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/fine-tuning/datasets", content=QA_CSV, headers={"content-type": "text/csv"}
    )

    assert response.status_code == 400
    assert error_code(response) == "invalid_content_type"


def test_list_shows_every_dataset_newest_first(api: httpx.Client, sandbox: RunningSandbox) -> None:
    first = uploaded_dataset(api, name="first")
    sandbox.control.advance_clock(1)
    second = uploaded_dataset(api, name="second")

    listed = api.get("/fine-tuning/datasets").json()

    assert listed == {"data": [second, first]}


def test_get_returns_the_dataset_and_404_for_an_unknown_one(api: httpx.Client) -> None:
    dataset = uploaded_dataset(api)

    found = api.get(f"/fine-tuning/datasets/{dataset['id']}")
    missing = api.get("/fine-tuning/datasets/ds-missing")

    assert found.json() == dataset
    assert missing.status_code == 404
    assert error_code(missing) == "dataset_not_found"


def test_delete_answers_204_and_the_dataset_is_gone(api: httpx.Client) -> None:
    dataset = uploaded_dataset(api)

    response = api.delete(f"/fine-tuning/datasets/{dataset['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/fine-tuning/datasets/{dataset['id']}").status_code == 404
    assert api.delete(f"/fine-tuning/datasets/{dataset['id']}").status_code == 404


@pytest.mark.parametrize("age", [0.0, QUEUED_SECONDS + 1])
def test_delete_while_a_queued_or_running_job_uses_it_is_409(
    api: httpx.Client, sandbox: RunningSandbox, age: float
) -> None:
    dataset = uploaded_dataset(api)
    job = created_job(api, dataset["id"])
    sandbox.control.advance_clock(age)

    response = api.delete(f"/fine-tuning/datasets/{dataset['id']}")

    assert response.status_code == 409
    assert error_code(response) == "dataset_in_use"
    assert job["id"] in response.json()["error"]["message"]
    assert api.get(f"/fine-tuning/datasets/{dataset['id']}").status_code == 200


def test_delete_after_the_job_finished_or_was_cancelled(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    dataset = uploaded_dataset(api)
    completed = created_job(api, dataset["id"])
    cancelled = created_job(api, dataset["id"])
    sandbox.control.advance("qubrid", "jobs", completed["id"], to="completed")
    api.post(f"/fine-tuning/jobs/{cancelled['id']}/cancel")

    response = api.delete(f"/fine-tuning/datasets/{dataset['id']}")

    assert response.status_code == 204
    # The job keeps naming the dataset it was trained on.
    assert api.get(f"/fine-tuning/jobs/{completed['id']}").json()["dataset_id"] == dataset["id"]


def test_list_lag_hides_new_datasets(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.add_fault(
        kind="list_lag", provider="qubrid", path="/fine-tuning/datasets", lag=30
    )
    dataset = uploaded_dataset(api)

    hidden = api.get("/fine-tuning/datasets").json()["data"]
    sandbox.control.advance_clock(30)
    shown = api.get("/fine-tuning/datasets").json()["data"]

    assert hidden == []
    assert shown == [dataset]


def test_control_api_sees_the_dataset_row(api: httpx.Client, sandbox: RunningSandbox) -> None:
    dataset = uploaded_dataset(api)

    row = sandbox.control.get("qubrid", "datasets", dataset["id"])["row"]

    assert row["row_count"] == 3
    assert row["name"] == "qa.csv"
