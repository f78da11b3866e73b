"""Each fault kind, and what an httpx client sees, on the Segmind emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox, SandboxControlError

JOB = {
    "name": "faulty",
    "data_source_path": "https://datasets.example.invalid/a.zip",
    "instance_prompt": "photo of TOK",
    "base_model": "FLUX_PRO",
}


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.base_url('segmind')}/finetune/request",
        headers={"x-api-key": sandbox.keys["segmind"]},
    ) as client:
        yield client


def job_names(api: httpx.Client) -> list[str]:
    return [job["name"] for job in api.get("/list").json()]


def test_error_answers_the_status_in_the_providers_shape_without_running_the_handler(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(kind="error", method="POST", path="*/submit", status=502, count=1)
    failed = api.post("/submit", json=JOB)
    assert failed.status_code == 502
    assert failed.json() == {
        "error": "BAD_GATEWAY",
        "detail": "The service is temporarily unavailable (sandbox fault).",
    }
    assert job_names(api) == []
    assert api.post("/submit", json=JOB).status_code == 200  # count=1: spent


def test_rate_limit_answers_429_with_retry_after(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(
        kind="rate_limit", provider="segmind", path="/finetune/request/list", retry_after=7
    )
    response = api.get("/list")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"] == "TOO_MANY_REQUESTS"


def test_drop_closes_the_connection_before_the_handler_runs(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(kind="drop", method="POST", path="*/submit", count=1)
    # The server closes before reading the request: the client sees the stream end without an
    # answer, or (when its body was still going out, under load) a reset.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        api.post("/submit", json=JOB)
    assert job_names(api) == []
    log = sandbox.control.request_log(limit=2)
    assert [(entry["fault"], entry["status"]) for entry in log] == [
        ("drop", None),
        (None, 200),
    ]


def test_lost_response_commits_the_create_but_the_client_sees_a_connection_error(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(kind="lost_response", method="POST", path="*/submit", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/submit", json=JOB)
    assert job_names(api) == ["faulty"]
    log = sandbox.control.request_log(limit=2)
    assert [(entry["fault"], entry["status"]) for entry in log] == [
        ("lost_response", None),
        (None, 200),
    ]


def test_an_error_after_commit_answers_the_error_but_the_create_happened(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(
        kind="error", status=503, after_commit=True, method="POST", path="*/submit", count=1
    )
    response = api.post("/submit", json=JOB)
    assert response.status_code == 503
    assert job_names(api) == ["faulty"]
    log = sandbox.control.request_log(limit=2)
    assert [(entry["fault"], entry["status"]) for entry in log] == [
        ("error_after_commit", 503),
        (None, 200),
    ]


def test_a_late_answer_after_commit_reaches_a_patient_client_and_the_job_exists_anyway(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(
        kind="slow", delay=0.4, after_commit=True, method="POST", path="*/submit", count=2
    )
    started = time.perf_counter()
    assert api.post("/submit", json=JOB).status_code == 200
    assert time.perf_counter() - started >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        api.post("/submit", json={**JOB, "name": "impatient"}, timeout=0.1)
    # Committed before the answer was held back: the client that gave up missed a real job.
    assert sorted(job_names(api)) == ["faulty", "impatient"]
    time.sleep(0.4)  # let the held answer go out before the next test
    log = sandbox.control.request_log(limit=10)
    assert [entry["fault"] for entry in log].count("late_response") == 2


def test_after_commit_is_only_for_errors_and_slow_answers(sandbox: RunningSandbox) -> None:
    with pytest.raises(SandboxControlError, match="'after_commit' applies to faults of kind"):
        sandbox.control.add_fault(kind="drop", after_commit=True)
    with pytest.raises(SandboxControlError, match="'after_commit' must be true or false"):
        sandbox.control.add_fault(kind="error", after_commit="yes")


def test_slow_delays_the_answer(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.add_fault(kind="slow", path="*/list", delay=0.4)
    started = time.perf_counter()
    assert api.get("/list").status_code == 200
    assert time.perf_counter() - started >= 0.4
    with pytest.raises(httpx.ReadTimeout):
        api.get("/list", timeout=0.1)
    time.sleep(0.4)  # let the abandoned request finish before the next test


def test_removing_a_slow_rule_lets_the_requests_it_holds_go_on(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    hold = sandbox.control.add_fault(kind="slow", path="*/list", delay=120, count=5)
    answers: list[int] = []
    held = threading.Thread(target=lambda: answers.append(api.get("/list").status_code))
    held.start()
    # The request is in once the rule has fired (its count went down); it is still held.
    while sandbox.control.faults()[0]["count"] == 5:
        time.sleep(0.01)
    assert answers == []
    sandbox.control.remove_fault(hold)
    held.join(timeout=10)
    assert answers == [200]
    # A rule used up by its count is not a removed one: its wait runs to the end.
    sandbox.control.add_fault(kind="slow", path="*/list", delay=0.3, count=1)
    started = time.perf_counter()
    assert api.get("/list").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_list_lag_hides_recent_creates_and_changes_until_the_lag_passes(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    old = api.post("/submit", json={**JOB, "name": "old"}).json()["finetune_id"]
    sandbox.control.advance_clock(60)
    sandbox.control.add_fault(kind="list_lag", path="*/list", lag=30)
    api.post("/submit", json={**JOB, "name": "new"})
    assert job_names(api) == ["old"]
    # The job itself is there: details are not lagged.
    sandbox.control.advance_clock(30)
    assert job_names(api) == ["new", "old"]
    api.put("/access-update", data={"request_id": old, "segmind_public": "True"})
    assert job_names(api) == ["new"]


def test_a_seeded_probability_fires_on_the_same_requests_every_time(
    sandbox: RunningSandbox,
) -> None:
    def pattern() -> list[int]:
        sandbox.control.reset()
        sandbox.control.add_fault(kind="error", path="*/list", probability=0.5, seed=1234)
        url = f"{sandbox.base_url('segmind')}/finetune/request/list"
        headers = {"x-api-key": sandbox.keys["segmind"]}
        return [httpx.get(url, headers=headers).status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert set(first) == {200, 503}


def test_rules_match_method_and_path_and_can_be_removed(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    rule = sandbox.control.add_fault(kind="error", method="POST", path="*/list")
    assert api.get("/list").status_code == 200  # GET is not POST
    sandbox.control.add_fault(kind="error", provider="segmind", path="/finetune/request/list")
    assert api.get("/list").status_code == 503
    assert len(sandbox.control.faults()) == 2
    sandbox.control.http.delete(f"/faults/{rule}")
    assert [fault["id"] for fault in sandbox.control.faults()] != [rule]
    sandbox.control.clear_faults()
    assert sandbox.control.faults() == []
    assert api.get("/list").status_code == 200


def test_control_routes_are_never_faulted(sandbox: RunningSandbox) -> None:
    sandbox.control.add_fault(kind="drop")
    assert sandbox.control.faults()[0]["kind"] == "drop"


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ({"kind": "explode"}, "'kind' must be one of"),
        ({"kind": "error", "probability": 2}, "'probability' must be between"),
        ({"kind": "error", "count": 0}, "'count' must be a positive integer"),
        ({"kind": "error", "provider": "nobody"}, "'provider' must be one of"),
        ({"kind": "error", "colour": "red"}, "unknown fault field(s): colour"),
    ],
)
def test_malformed_rules_are_refused(
    sandbox: RunningSandbox, rule: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(
        SandboxControlError, match=complaint.replace("(", r"\(").replace(")", r"\)")
    ):
        sandbox.control.add_fault(**rule)


def test_status_runs_the_handler_and_answers_another_success_status(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(kind="status", method="POST", path="*/submit", status=202, count=1)
    accepted = api.post("/submit", json=JOB)
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "REQUESTED"  # the handler's own body
    assert job_names(api) == ["faulty"]


@pytest.mark.parametrize(
    ("fields", "body"),
    [({"status": 204}, b""), ({"status": 200, "body": "<html>upstream</html>"}, b"<html>")],
    ids=["204-no-body", "unreadable-body"],
)
def test_status_replaces_the_body_and_a_204_has_none(
    api: httpx.Client, sandbox: RunningSandbox, fields: dict[str, Any], body: bytes
) -> None:
    sandbox.control.add_fault(kind="status", method="POST", path="*/submit", count=1, **fields)
    answer = api.post("/submit", json=JOB)
    assert answer.status_code == fields["status"]
    assert answer.content.startswith(body) and (body or answer.content == b"")
    assert job_names(api) == ["faulty"]  # committed all the same


def test_status_leaves_an_error_answer_as_it_was(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.add_fault(kind="status", method="POST", path="*/submit", status=201, count=1)
    refused = api.post("/submit", json={"name": "no-dataset"})
    assert refused.status_code == 400


def test_error_with_a_body_answers_it_instead_of_the_providers_shape(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    detail = {"detail": [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}]}
    sandbox.control.add_fault(
        kind="error", method="POST", path="*/submit", status=422, body=detail, count=1
    )
    refused = api.post("/submit", json=JOB)
    assert refused.status_code == 422
    assert refused.json() == detail
    assert job_names(api) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"kind": "status", "status": 503}, "'status' must be between 200"),
        ({"kind": "drop", "body": "x"}, "'body' applies to faults of kind"),
    ],
)
def test_status_and_body_are_checked(
    sandbox: RunningSandbox, rule: dict[str, Any], message: str
) -> None:
    with pytest.raises(SandboxControlError, match=message):
        sandbox.control.add_fault(**rule)
