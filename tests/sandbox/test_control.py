"""The control API: reset, clock, seeding, inspecting and changing jobs out of band."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from reconcile_sandbox.provider import Provider
from reconcile_sandbox.segmind import api as segmind
from reconcile_sandbox.testing import RunningSandbox, SandboxControlError, start_sandbox

JOB = {
    "name": "controlled",
    "data_source_path": "https://datasets.example.invalid/a.zip",
    "instance_prompt": "photo of TOK",
    "base_model": "QWEN",
    "machine_type": "NVIDIA_H100",
    "train_type": "LORA",
}


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.base_url('segmind')}/finetune/request",
        headers={"x-api-key": sandbox.keys["segmind"]},
    ) as client:
        yield client


def test_info_lists_providers_kinds_and_statuses(sandbox: RunningSandbox) -> None:
    info = sandbox.control.info()
    jobs = info["providers"]["segmind"]["kinds"]["jobs"]
    assert jobs["statuses"][0] == "REQUESTED"
    assert jobs["statuses"][-1] == "AVAILABLE"
    assert info["providers"]["segmind"]["seedable"] is True
    assert info["clock"]["speed"] == 0.0


def test_the_clock_advances_only_forward(sandbox: RunningSandbox) -> None:
    before = sandbox.control.now()
    assert sandbox.control.advance_clock(90) == pytest.approx(before + 90)
    with pytest.raises(SandboxControlError, match="'seconds' must be a number of at least 0"):
        sandbox.control.advance_clock(-1)


def test_a_job_is_advanced_by_seconds_and_inspected(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = api.post("/submit", json=JOB).json()["request_id"]
    view = sandbox.control.advance("segmind", "jobs", job_id, seconds=31)
    assert view["state"]["status"] == "DATA_PROCESSING"
    assert view["row"]["name"] == "controlled"
    assert view["row"]["progress_offset"] == 31
    assert sandbox.control.get("segmind", "jobs", job_id)["state"]["terminal"] is False


def test_seeding_is_validated(sandbox: RunningSandbox) -> None:
    with pytest.raises(SandboxControlError, match="'count' must be a whole number"):
        sandbox.control.seed("segmind", 0)
    with pytest.raises(SandboxControlError, match="'fail_every' must be a whole number"):
        sandbox.control.seed("segmind", 5, fail_every="often")


def test_reset_of_one_provider_keeps_the_others(toy_provider: Provider) -> None:
    with start_sandbox(providers=[segmind.PROVIDER, toy_provider]) as running:
        running.control.seed("segmind", 3)
        running.control.seed("toy", 4)
        running.control.reset("segmind")
        segmind_list = httpx.get(
            f"{running.base_url('segmind')}/finetune/request/list",
            headers={"x-api-key": running.keys["segmind"]},
        ).json()
        toy_list = httpx.get(
            f"{running.base_url('toy')}/items",
            headers={"Authorization": f"Bearer {running.keys['toy']}"},
        ).json()
        assert (len(segmind_list), len(toy_list["items"])) == (0, 4)


def test_reset_removes_uploaded_objects(api: httpx.Client, sandbox: RunningSandbox) -> None:
    urls = api.request("GET", "/upload/pre-signed-url", json={"name": "a", "public": True}).json()
    httpx.put(urls["presigned_url"], content=b"zip", headers={"x-amz-acl": "public-read"})
    assert httpx.get(urls["s3_url"]).status_code == 200
    sandbox.control.reset("segmind")
    assert httpx.get(urls["s3_url"]).status_code == 404


def test_unknown_control_paths_answer_json_errors(sandbox: RunningSandbox) -> None:
    response = sandbox.control.http.get("/segmind/nothing/here/at/all")
    assert response.status_code == 404
    assert "error" in response.json()
    with pytest.raises(SandboxControlError, match="has no object kind 'models'"):
        sandbox.control.get("segmind", "models", "x")


def test_a_crash_in_a_provider_hook_answers_json_500(toy_provider: Provider) -> None:
    def broken_seed(*_: object) -> int:
        raise RuntimeError("seed table missing")

    broken = dataclasses.replace(toy_provider, seed=broken_seed)
    with start_sandbox(providers=[broken]) as running:
        response = running.control.http.post("/toy/seed", json={"count": 1})
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal error in the sandbox: RuntimeError: seed table missing"
    }
