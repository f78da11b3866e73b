"""The official segmind SDK (1.3.0) fine-tune client, pointed at the sandbox, works end to end."""

from __future__ import annotations

import httpx
import pytest
import segmind
import segmind.finetune

from reconcile_sandbox.testing import RunningSandbox


@pytest.fixture
def sdk(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> segmind.SegmindClient:
    # Finetune calls go to an absolute class attribute, not to the client's base_url.
    monkeypatch.setattr(
        segmind.finetune.Finetune,
        "base_url",
        f"{sandbox.base_url('segmind')}/finetune/request",
    )
    return segmind.SegmindClient(api_key=sandbox.keys["segmind"])


def test_sdk_submits_lists_gets_flips_access_and_presigns(
    sdk: segmind.SegmindClient, sandbox: RunningSandbox
) -> None:
    urls = sdk.finetune.upload_presigned_url("mascot.zip")
    assert set(urls) == {"presigned_url", "s3_url"}
    put = httpx.put(urls["presigned_url"], content=b"PK\x05\x06" + bytes(18))
    assert put.status_code == 200

    submitted = sdk.finetune.submit(
        name="mascot-qwen",
        data_source_path="https://datasets.example.invalid/mascot.zip",
        instance_prompt="photo of TOK, a plush fox",
        trigger_word="TOK",
        base_model="QWEN",
        train_type="LORA",
        machine_type="NVIDIA_H100",
        theme="QWEN",
        advance_parameters={"steps": 1000, "learning_rate": 0.0004},
    )
    job_id = submitted["request_id"]
    assert submitted["status"] == "REQUESTED"

    listed = sdk.finetune.list()
    assert [item["request_id"] for item in listed] == [job_id]

    shown = sdk.finetune.details(job_id)["finetune"]
    assert (shown["name"], shown["public_model"]) == ("mascot-qwen", False)

    assert sdk.finetune.access_update(job_id, True) == {"status": 200}
    assert sdk.finetune.details(job_id)["finetune"]["public_model"] is True

    sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    cloud_storage_url = sdk.finetune.details(job_id)["finetune"]["cloud_storage_url"]
    download = sdk.finetune.file_download(cloud_storage_url)
    assert httpx.get(download).status_code == 200


def test_sdk_raises_its_error_with_the_detail(sdk: segmind.SegmindClient) -> None:
    with pytest.raises(segmind.exceptions.SegmindError) as raised:
        sdk.finetune.details("no-such-job")
    assert raised.value.status == 404
    assert raised.value.detail == "NOT_FOUND"
