"""The Segmind adapter under each reading of the documents' open questions (issue 13): the
sandbox's variants ``segmind.order``, ``segmind.flux_ids`` and ``segmind.acl_header``, and the
submit fields the documents require (docs/providers.md, "Segmind")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.spec import DesiredJob
from reconciler.providers.http import RetryPolicy
from reconciler.providers.segmind.adapter import acl_header, submit_body
from tests.support.providers import desired_for, image_folder, spec
from tests.support.segmind import client_for, converge_one, flux_pro


def bare(folder: Path, base_model: str, name: str = "bare") -> DesiredJob:
    """A spec of ``base_model`` that leaves theme, machine_type and train_type out; but a FLUX
    spec names its machine (validation requires it: no default is documented)."""
    fields: dict[str, Any] = {"trigger_word": "TOK", "instance_prompt": "photo of TOK"}
    if base_model == "FLUX":
        fields["machine_type"] = "NVIDIA_L40S"
    return desired_for(spec("segmind", name, folder, base_model=base_model, **fields))


@pytest.mark.parametrize("order", ["newest-first", "oldest-first"])
def test_the_newest_job_of_a_name_is_current_in_either_list_order(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, order: str
) -> None:
    sandbox.control.set_variants(**{"segmind.order": order})
    client = client_for(sandbox, fast_retry)
    folder = image_folder(tmp_path)
    old_id, _ = converge_one(client, flux_pro(folder))
    sandbox.control.advance_clock(5)
    new_id, _ = converge_one(client, flux_pro(folder))

    jobs = client.observe().jobs
    assert {job.remote_id for job in jobs} == {old_id, new_id}
    assert all(job.created_at is not None for job in jobs)
    assert max(jobs, key=lambda job: job.age_key).remote_id == new_id


def test_without_timestamps_list_position_orders_newest_first() -> None:
    import httpx

    from reconciler.providers.segmind.adapter import parse_job_list

    items = [
        {"id": "b", "name": "o--x", "status": "AVAILABLE"},
        {"id": "a", "name": "o--x", "status": "AVAILABLE"},
    ]
    jobs = parse_job_list(httpx.Response(200, json=items))
    assert max(jobs, key=lambda job: job.age_key).remote_id == "b"
    assert all(job.created_at is None for job in jobs)


def test_a_bad_created_ts_is_ignored_not_fatal() -> None:
    import httpx

    from reconciler.providers.segmind.adapter import parse_job_list

    items = [{"id": "a", "name": "o--x", "status": "AVAILABLE", "created_ts": "yesterday"}]
    (job,) = parse_job_list(httpx.Response(200, json=items))
    assert job.created_at is None


def test_distinct_flux_ids_observe_and_update_by_the_finetune_id(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.set_variants(**{"segmind.flux_ids": "distinct"})
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, flux_pro(image_folder(tmp_path)))

    (job,) = client.observe().jobs
    assert job.remote_id == job_id  # the id the submit answered is the id the list shows
    client.update_access(job.remote_id, "public")
    (job,) = client.observe().jobs
    assert job.access == "public"


@pytest.mark.parametrize("model", ["QWEN", "FLUX_PRO", "FAST_FLUX"])
def test_uploads_send_the_acl_the_url_was_signed_for(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, model: str
) -> None:
    sandbox.control.set_variants(**{"segmind.acl_header": "signed"})
    client = client_for(sandbox, fast_retry)
    desired = bare(image_folder(tmp_path), model)
    job_id, s3_url = converge_one(client, desired)
    assert s3_url and job_id


def test_acl_header_reads_the_signed_headers() -> None:
    base = "https://bucket.example/k.zip?X-Amz-Signature=s&X-Amz-SignedHeaders="
    assert acl_header(base + "host", public=True) is None
    assert acl_header(base + "host", public=False) is None
    assert acl_header(base + "host%3Bx-amz-acl", public=True) == "public-read"
    assert acl_header(base + "host%3Bx-amz-acl", public=False) == "public-read"
    assert acl_header(base + "host%3Bx-amz-acl&x-amz-acl=private", public=True) == "private"
    # No SigV4 signed-headers list: the base model decides, as before.
    assert acl_header("https://bucket.example/k.zip?Signature=s", public=True) == "public-read"
    assert acl_header("https://bucket.example/k.zip?Signature=s", public=False) is None


@pytest.mark.parametrize("model", ["QWEN", "FLUX"])
def test_qwen_and_flux_submits_carry_the_documented_required_fields(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, model: str
) -> None:
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, bare(image_folder(tmp_path), model))
    (job,) = client.observe().jobs
    assert job.remote_id == job_id
    assert job.train_type == "LORA"
    assert job.theme == model


def test_submit_defaults_per_base_model_and_the_spec_wins(tmp_path: Path) -> None:
    folder = image_folder(tmp_path)
    ref = "https://bucket.example/k.zip"
    qwen = submit_body(bare(folder, "QWEN"), ref)
    assert (qwen["theme"], qwen["machine_type"], qwen["train_type"]) == (
        "QWEN",
        "NVIDIA_H100",
        "LORA",
    )
    fast = submit_body(bare(folder, "FAST_FLUX"), ref)
    assert fast["theme"] == "subject"
    assert "machine_type" not in fast and "train_type" not in fast
    pro = submit_body(bare(folder, "FLUX_PRO"), ref)
    assert not {"theme", "machine_type", "train_type"} & set(pro)
    flux = desired_for(
        spec(
            "segmind",
            "own",
            folder,
            base_model="FLUX",
            trigger_word="TOK",
            instance_prompt="photo of TOK",
            machine_type="NVIDIA_L40S",
        )
    )
    body = submit_body(flux, ref)
    assert (body["theme"], body["machine_type"], body["train_type"]) == (
        "FLUX",
        "NVIDIA_L40S",
        "LORA",
    )
