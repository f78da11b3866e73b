"""Contract tests of the Cohere Datasets emulator over real HTTP (CONTRACTS.md §C3).

Every response goes through ``checked_client``, so each one is also validated against the
OpenAPI document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.sandbox.cohere_support import (
    DATASET_VALIDATION_SECONDS,
    chat_jsonl,
    chat_line,
    checked_client,
    classification_csv,
    dataset,
    upload,
)

ISO_MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with checked_client(sandbox) as client:
        yield client


def settle(sandbox: RunningSandbox) -> None:
    sandbox.control.advance_clock(DATASET_VALIDATION_SECONDS)


def test_upload_answers_an_id_made_of_the_name_slug_and_six_characters(api: httpx.Client) -> None:
    dataset_id = upload(api, chat_jsonl(), name="My Support Chats")
    assert re.fullmatch(r"my-support-chats-[a-z0-9]{6}", dataset_id)
    assert upload(api, chat_jsonl(), name="My Support Chats") != dataset_id  # names may repeat


def test_validation_walks_queued_processing_validated_and_never_shows_unknown(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    dataset_id = upload(api, chat_jsonl(10))
    seen = [dataset(api, dataset_id)["validation_status"]]
    for _ in range(8):
        sandbox.control.advance_clock(1.0)
        seen.append(dataset(api, dataset_id)["validation_status"])
    assert "unknown" not in seen
    assert seen[0] == "queued"
    assert seen[-1] == "validated"
    assert [status for i, status in enumerate(seen) if i == 0 or seen[i - 1] != status] == [
        "queued",
        "processing",
        "validated",
    ]


def test_a_validated_chat_dataset_reports_its_metrics_and_parts(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    dataset_id = upload(api, chat_jsonl(10), name="chats")
    pending = dataset(api, dataset_id)
    assert "metrics" not in pending
    settle(sandbox)
    shown = dataset(api, dataset_id)
    assert shown["dataset_type"] == "chat-finetune-input"
    assert ISO_MICRO.match(shown["created_at"]) and ISO_MICRO.match(shown["updated_at"])
    assert shown["updated_at"] > shown["created_at"]
    metrics = shown["metrics"]["finetune_dataset_metrics"]
    # Without evaluation data, the rows are split 80/20.
    assert metrics["total_examples"] == 10
    assert (metrics["train_examples"], metrics["eval_examples"]) == (8, 2)
    assert metrics["chat_data_metrics"]["num_train_turns"] == 8 * 3
    assert metrics["chat_data_metrics"]["preamble"] == "You are a helpful assistant."
    assert metrics["trainable_token_count"] > 0
    (part,) = shown["dataset_parts"]
    assert (part["name"], part["num_rows"], part["size_bytes"]) == (
        "train.jsonl",
        10,
        len(chat_jsonl(10)),
    )
    assert shown["required_fields"] == ["messages"]
    assert "validation_error" not in shown


def test_evaluation_data_is_counted_as_eval_examples(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    dataset_id = upload(api, chat_jsonl(6), eval_content=chat_jsonl(3))
    settle(sandbox)
    shown = dataset(api, dataset_id)
    metrics = shown["metrics"]["finetune_dataset_metrics"]
    assert (metrics["train_examples"], metrics["eval_examples"]) == (6, 3)
    assert metrics["chat_data_metrics"]["num_eval_turns"] == 9
    assert [part["index"] for part in shown["dataset_parts"]] == [0, 1]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (chat_line(0) + "\n{not json\n" + chat_line(1), "line 2: invalid JSON"),
        (
            chat_line(0)
            + "\n"
            + json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}),
            "line 2: messages[0].role is 'assistant'",
        ),
        (chat_line(0) + "\n" + json.dumps({"text": "no messages"}), "line 2: 'messages'"),
        (chat_line(0).encode().decode(), "at least 2"),
        ("\n\n", "empty"),
    ],
    ids=["bad-json", "bad-role", "no-messages", "one-conversation", "empty"],
)
def test_a_malformed_chat_file_fails_validation_with_a_message(
    sandbox: RunningSandbox, api: httpx.Client, content: str, expected: str
) -> None:
    dataset_id = upload(api, content.encode())
    sandbox.control.advance_clock(3.0)
    # The verdict is not known before processing ends.
    assert dataset(api, dataset_id)["validation_status"] == "processing"
    settle(sandbox)
    shown = dataset(api, dataset_id)
    assert shown["validation_status"] == "failed"
    assert expected in shown["validation_error"]
    assert "metrics" not in shown


def test_skip_malformed_input_drops_bad_rows_with_warnings(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    content = (chat_line(0) + "\n{oops\n" + chat_line(1) + "\n" + chat_line(2)).encode()
    dataset_id = upload(api, content, params={"skip_malformed_input": "true"})
    settle(sandbox)
    shown = dataset(api, dataset_id)
    assert shown["validation_status"] == "validated"
    assert len(shown["validation_warnings"]) == 1
    assert "line 2" in shown["validation_warnings"][0]
    assert shown["dataset_parts"][0]["num_rows"] == 3


@pytest.mark.parametrize(
    ("labels", "expected_error"),
    [
        ({"billing": 20, "shipping": 20}, None),
        ({"billing": 20, "shipping": 19}, "at least 40"),
        ({"billing": 40}, "at least 2"),
        ({"billing": 37, "shipping": 4}, "'shipping' have fewer than 5"),
    ],
    ids=["valid", "too-few-examples", "one-label", "scarce-label"],
)
def test_single_label_classification_rules(
    sandbox: RunningSandbox, api: httpx.Client, labels: dict[str, int], expected_error: str | None
) -> None:
    dataset_id = upload(
        api,
        classification_csv(labels),
        dataset_type="single-label-classification-finetune-input",
        filename="labels.csv",
    )
    settle(sandbox)
    shown = dataset(api, dataset_id)
    if expected_error is None:
        assert shown["validation_status"] == "validated"
        label_metrics = shown["metrics"]["finetune_dataset_metrics"]["classify_data_metrics"]
        assert {m["label"]: m["total_examples"] for m in label_metrics["label_metrics"]} == labels
    else:
        assert shown["validation_status"] == "failed"
        assert expected_error in shown["validation_error"]


def test_multi_label_classification_takes_jsonl_label_lists_only(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    rows = [
        json.dumps(
            {"text": f"ticket {i}", "label": ["billing", "urgent"] if i % 2 else ["shipping"]}
        )
        for i in range(40)
    ]
    good = upload(
        api,
        "\n".join(rows).encode(),
        dataset_type="multi-label-classification-finetune-input",
        filename="multi.jsonl",
    )
    bad = upload(
        api,
        classification_csv({"a": 20, "b": 20}),
        dataset_type="multi-label-classification-finetune-input",
        filename="multi.csv",
    )
    settle(sandbox)
    assert dataset(api, good)["validation_status"] == "validated"
    failed = dataset(api, bad)
    assert failed["validation_status"] == "failed"
    assert "must be JSONL" in failed["validation_error"]


def test_rerank_needs_256_unique_queries(sandbox: RunningSandbox, api: httpx.Client) -> None:
    def rows(count: int) -> bytes:
        return "\n".join(
            json.dumps({"query": f"q{i}", "relevant_passages": [f"p{i}"], "hard_negatives": ["x"]})
            for i in range(count)
        ).encode()

    enough = upload(api, rows(256), dataset_type="reranker-finetune-input", filename="r.jsonl")
    short = upload(api, rows(255), dataset_type="reranker-finetune-input", filename="r.jsonl")
    settle(sandbox)
    shown = dataset(api, enough)
    assert shown["validation_status"] == "validated"
    rerank = shown["metrics"]["finetune_dataset_metrics"]["reranker_data_metrics"]
    assert rerank["num_train_hard_negatives"] + rerank["num_eval_hard_negatives"] == 256
    assert "255 unique queries" in dataset(api, short)["validation_error"]


def test_keep_fields_missing_from_the_file_fail_validation(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    dataset_id = upload(
        api,
        b'{"text": "a"}\n{"text": "b"}',
        dataset_type="embed-input",
        params={"keep_fields": ["lang"]},
    )
    settle(sandbox)
    shown = dataset(api, dataset_id)
    assert shown["validation_status"] == "failed"
    assert "'lang'" in shown["validation_error"]
    assert shown["preserve_fields"] == ["lang"]


@pytest.mark.parametrize(
    ("params", "files", "expected"),
    [
        ({"type": "chat-finetune-input"}, {"data": ("t.jsonl", b"x")}, "'name'"),
        ({"name": "n"}, {"data": ("t.jsonl", b"x")}, "'type'"),
        ({"name": "n", "type": "chat"}, {"data": ("t.jsonl", b"x")}, "is not one of"),
        ({"name": "x" * 50, "type": "embed-input"}, {"data": ("t.jsonl", b"x")}, "under 50"),
        ({"name": "n", "type": "embed-input"}, {"file": ("t.jsonl", b"x")}, "'data'"),
        (
            {"name": "n", "type": "embed-input", "csv_delimiter": ";;"},
            {"data": ("t.csv", b"x")},
            "single character",
        ),
        (
            {"name": "n", "type": "embed-input", "skip_malformed_input": "yes"},
            {"data": ("t.csv", b"x")},
            "true or false",
        ),
    ],
    ids=["no-name", "no-type", "bad-type", "long-name", "field-file", "delimiter", "flag"],
)
def test_upload_refuses_bad_requests_with_400(
    api: httpx.Client, params: dict[str, str], files: dict[str, tuple[str, bytes]], expected: str
) -> None:
    response = api.post("/v1/datasets", params=params, files=files)
    assert response.status_code == 400
    assert expected in response.json()["message"]


def test_upload_must_be_multipart(api: httpx.Client) -> None:
    response = api.post(
        "/v1/datasets", params={"name": "n", "type": "embed-input"}, content=b'{"text": "a"}'
    )
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["message"]


def test_list_filters_by_type_status_and_dates_and_pages_by_limit_offset(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    first = upload(api, chat_jsonl(), name="first")
    sandbox.control.advance_clock(10.0)
    middle = (
        datetime.fromtimestamp(sandbox.control.now(), tz=UTC).isoformat().replace("+00:00", "Z")
    )
    sandbox.control.advance_clock(1.0)  # the clock is frozen: keep "middle" strictly between
    second = upload(api, b"{broken", name="second")
    third = upload(api, b'{"text": "a"}', name="third", dataset_type="embed-input")
    settle(sandbox)

    def ids(**params: Any) -> list[str]:
        response = api.get("/v1/datasets", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["datasets"]]

    assert ids() == [first, second, third]
    assert ids(datasetType="chat-finetune-input") == [first, second]
    assert ids(validationStatus="failed") == [second]
    assert ids(validationStatus="validated") == [first, third]
    assert ids(limit=2) == [first, second]
    assert ids(limit=1, offset=1) == [second]
    assert ids(limit=0) == [first, second, third]  # 0, like an unset number, is no limit
    assert ids(validationStatus="validated", limit=1, offset=1) == [third]
    assert ids(before=middle) == [first]
    assert ids(after=middle) == [second, third]
    bad = api.get("/v1/datasets", params={"validationStatus": "done"})
    assert bad.status_code == 400
    assert api.get("/v1/datasets", params={"limit": "-1"}).status_code == 400


def test_get_of_a_missing_dataset_is_404_with_the_documented_message(api: httpx.Client) -> None:
    response = api.get("/v1/datasets/nope-abc123")
    assert response.status_code == 404
    assert response.json() == {"message": "The dataset with id 'nope-abc123' was not found."}


def test_delete_answers_an_empty_object_and_the_dataset_is_gone(api: httpx.Client) -> None:
    dataset_id = upload(api, chat_jsonl())
    response = api.delete(f"/v1/datasets/{dataset_id}")
    assert response.status_code == 200
    assert response.json() == {}
    assert api.get(f"/v1/datasets/{dataset_id}").status_code == 404
    assert api.delete(f"/v1/datasets/{dataset_id}").status_code == 404


def test_usage_sums_the_bytes_of_every_dataset(api: httpx.Client) -> None:
    assert api.get("/v1/datasets/usage").json() == {"organization_usage": 0}
    upload(api, chat_jsonl(4), eval_content=chat_jsonl(2))
    upload(api, chat_jsonl(3))
    expected = len(chat_jsonl(4)) + len(chat_jsonl(2)) + len(chat_jsonl(3))
    assert api.get("/v1/datasets/usage").json() == {"organization_usage": expected}


def test_datasets_are_deleted_30_days_after_creation(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    dataset_id = upload(api, chat_jsonl())
    sandbox.control.advance_clock(29 * 86400.0)
    assert dataset(api, dataset_id)["validation_status"] == "validated"
    sandbox.control.advance_clock(2 * 86400.0)
    assert api.get(f"/v1/datasets/{dataset_id}").status_code == 404
    assert api.get("/v1/datasets").json() == {"datasets": []}


def test_a_new_dataset_is_missing_from_a_lagging_list_but_readable_by_id(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    old = upload(api, chat_jsonl(), name="old")
    sandbox.control.advance_clock(60.0)
    sandbox.control.add_fault(kind="list_lag", provider="cohere", path="/v1/datasets", lag=30)
    new = upload(api, chat_jsonl(), name="new")
    assert [item["id"] for item in api.get("/v1/datasets").json()["datasets"]] == [old]
    assert dataset(api, new)["id"] == new
    sandbox.control.advance_clock(31.0)
    assert [item["id"] for item in api.get("/v1/datasets").json()["datasets"]] == [old, new]


def test_late_visibility_and_a_transient_status_answer_a_new_datasets_first_looks(
    sandbox: RunningSandbox, api: httpx.Client
) -> None:
    """Under both variants: two 404s, then no status, then ``unknown``, then the usual
    progression; a look under the defaults before they were switched on does not count. (A
    plain client: a missing status is what the document does not allow.)"""
    dataset_id = upload(api, chat_jsonl())
    assert dataset(api, dataset_id)["validation_status"] == "queued"
    sandbox.control.set_variants(
        **{"cohere.dataset_visibility": "late", "cohere.validation_status": "transient-unknown"}
    )
    with httpx.Client(base_url=sandbox.base_url("cohere"), headers=api.headers) as plain:
        answers = [plain.get(f"/v1/datasets/{dataset_id}") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [404, 404, 200, 200, 200]
    shown = [answer.json()["dataset"].get("validation_status") for answer in answers[2:]]
    assert shown == [None, "unknown", "queued"]


def test_the_control_api_can_fail_a_dataset(sandbox: RunningSandbox, api: httpx.Client) -> None:
    dataset_id = upload(api, chat_jsonl())
    sandbox.control.fail("cohere", "datasets", dataset_id, "the file could not be read")
    shown = dataset(api, dataset_id)
    assert shown["validation_status"] == "failed"
    assert shown["validation_error"] == "the file could not be read"


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Token sandbox-cohere-key"])
def test_a_missing_or_wrong_key_is_401(sandbox: RunningSandbox, header: str | None) -> None:
    with checked_client(sandbox) as client:
        headers = {"Authorization": header} if header else {}
        if header is None:
            client.headers.pop("Authorization")
        response = client.get("/v1/datasets", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"message": "invalid api token"}
