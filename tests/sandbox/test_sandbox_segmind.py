"""Contract tests of the Segmind emulator over real HTTP (CONTRACTS.md §A1–A5)."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox

LIST_ITEM_KEYS = {
    "data_source_path", "name", "status", "error_message", "segmind_model_path",
    "advance_parameters", "segmind_public_model", "train_type", "source_type", "base_model",
    "theme", "cloud_storage_url", "finetune_id", "model_information", "created_ts", "updated_ts",
}  # fmt: skip
# The documented list sample shows no timestamps; issue 13's audit found the list carries
# created_ts, and the client orders by it when present (docs/providers.md).
DETAILS_KEYS = {
    "finetune_id", "name", "data_source_path", "instance_prompt", "status", "source_type",
    "base_model", "slug", "public_model", "error_message", "cloud_storage_url", "created_ts",
    "updated_ts",
}  # fmt: skip
STATUSES = [
    "REQUESTED", "DATA_PROCESSING", "TRAINING_INITIATED", "TRAINING_COMPLETED",
    "INFERENCE_QUEUED", "DEPLOYING", "AVAILABLE",
]  # fmt: skip


@pytest.fixture
def api(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{sandbox.base_url('segmind')}/finetune/request",
        headers={"x-api-key": sandbox.keys["segmind"]},
    ) as client:
        yield client


def image_zip(names: tuple[str, ...] = ("a.png", "a.txt", "b.jpg")) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"\x89PNG fake image" if not name.endswith(".txt") else b"TOK")
    return buffer.getvalue()


def presign(api: httpx.Client, name: str = "mascot", public: bool | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"name": name}
    if public is not None:
        body.update(extension=".zip", public=public)
    response = api.request("GET", "/upload/pre-signed-url", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()
    return result


def upload(api: httpx.Client, content: bytes | None = None, public: bool = False) -> str:
    """Upload a dataset through a pre-signed URL; returns its s3_url."""
    urls = presign(api, public=public)
    headers = {"Content-Type": "application/zip"}
    if public:
        headers["x-amz-acl"] = "public-read"
    put = httpx.put(urls["presigned_url"], content=content or image_zip(), headers=headers)
    assert put.status_code == 200, put.text
    return urls["s3_url"]


def submit_body(model: str, data_source_path: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{model.lower()}-test",
        "data_source_path": data_source_path,
        "instance_prompt": "photo of TOK, a plush fox",
        "trigger_word": "TOK",
        "base_model": model,
        "segmind_public": False,
    }
    if model == "QWEN":
        body.update(theme="QWEN", machine_type="NVIDIA_H100", train_type="LORA")
        body["advance_parameters"] = {"steps": 1000, "auto_caption": False, "learning_rate": 4e-4}
    elif model == "FAST_FLUX":
        body.update(theme="subject")
        body["advance_parameters"] = {"steps": 2000, "face_crop": False, "finetune_type": "LORA"}
    elif model == "FLUX_PRO":
        body.update(theme="GENERAL")
        body["advance_parameters"] = {"iterations": 300, "finetune_type": "LORA", "lora_rank": 16}
    else:
        body.update(theme="FLUX", machine_type="NVIDIA_A100_40GB", train_type="LORA")
        body["advance_parameters"] = {"steps": 1000, "lora_rank": 128, "batch_size": 2}
    body.update(overrides)
    return body


def submit(api: httpx.Client, model: str, data_source_path: str, **overrides: Any) -> str:
    response = api.post("/submit", json=submit_body(model, data_source_path, **overrides))
    assert response.status_code == 200, response.text
    body = response.json()
    job_id: str = body["request_id"] if model == "QWEN" else body["finetune_id"]
    return job_id


def details(api: httpx.Client, job_id: str) -> dict[str, Any]:
    response = api.request("GET", "/details", json={"request_id": job_id})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["finetune"]
    return result


PUBLIC_ZIP = "https://datasets.example.invalid/mascot.zip"


# Authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"Authorization": "Bearer sandbox-segmind-key"}],
    ids=["missing", "wrong", "bearer-instead-of-x-api-key"],
)
def test_requests_without_the_x_api_key_get_401(
    sandbox: RunningSandbox, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{sandbox.base_url('segmind')}/finetune/request/list", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"
    assert "x-api-key" in response.json()["detail"]


def test_a_configured_key_replaces_the_default() -> None:
    from reconcile_sandbox.testing import start_sandbox

    with start_sandbox(keys={"segmind": "my-own-key"}) as running:
        url = f"{running.base_url('segmind')}/finetune/request/list"
        assert httpx.get(url, headers={"x-api-key": "my-own-key"}).status_code == 200
        assert httpx.get(url, headers={"x-api-key": "sandbox-segmind-key"}).status_code == 401


# Submit ---------------------------------------------------------------------------------------


def test_qwen_submit_answers_request_id(api: httpx.Client) -> None:
    response = api.post("/submit", json=submit_body("QWEN", PUBLIC_ZIP))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "request_id", "name"}
    assert body["status"] == "REQUESTED"
    assert body["name"] == "qwen-test"


@pytest.mark.parametrize("model", ["FAST_FLUX", "FLUX_PRO", "FLUX"])
def test_flux_submits_answer_finetune_id(api: httpx.Client, model: str) -> None:
    body = api.post("/submit", json=submit_body(model, PUBLIC_ZIP)).json()
    assert set(body) == {"status", "finetune_id", "name"}
    assert body["status"] == "REQUESTED"


@pytest.mark.parametrize(
    ("model", "overrides", "complaint"),
    [
        ("QWEN", {"name": ""}, "'name' is required"),
        ("QWEN", {"base_model": "SDXL"}, "'base_model' must be one of QWEN, FAST_FLUX"),
        ("QWEN", {"instance_prompt": None}, "'instance_prompt' is required"),
        ("QWEN", {"data_source_path": "ftp://host/x.zip"}, "'data_source_path' must be an http(s)"),
        ("QWEN", {"machine_type": "NVIDIA_A100_40GB"}, "'machine_type' must be one of NVIDIA_H100"),
        ("QWEN", {"train_type": "FULL"}, "'train_type' must be one of LORA"),
        ("QWEN", {"segmind_public": "yes"}, "'segmind_public' must be true or false"),
        ("QWEN", {"advance_parameters": [1]}, "'advance_parameters' must be a JSON object"),
        ("FLUX_PRO", {"theme": "subject"}, "'theme' must be one of CHARACTER, PRODUCT"),
        (
            "FLUX_PRO",
            {"advance_parameters": {"iterations": 99}},
            "iterations' must be an integer of at least 100",
        ),
        ("FLUX_PRO", {"advance_parameters": {"lora_rank": 64}}, "lora_rank' must be 16 or 32"),
        (
            "FLUX_PRO",
            {"advance_parameters": {"priority": "FAST"}},
            "priority' must be one of SPEED",
        ),
        (
            "FLUX_PRO",
            {"advance_parameters": {"finetune_type": "QLORA"}},
            "finetune_type' must be one of FULL, LORA",
        ),
        (
            "FAST_FLUX",
            {"advance_parameters": {"steps": 0}},
            "steps' must be an integer of at least 1",
        ),
        (
            "QWEN",
            {"advance_parameters": {"learning_rate": -1}},
            "learning_rate' must be a number above 0",
        ),
    ],
)
def test_submit_validation_names_the_field(
    api: httpx.Client, model: str, overrides: dict[str, Any], complaint: str
) -> None:
    body = submit_body(model, PUBLIC_ZIP)
    body.update(overrides)
    response = api.post("/submit", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "BAD_REQUEST"
    assert complaint in response.json()["detail"]


def test_submit_needs_a_json_object(api: httpx.Client) -> None:
    not_json = api.post("/submit", content=b"name=x", headers={"Content-Type": "application/json"})
    empty = api.post("/submit")
    assert (not_json.status_code, empty.status_code) == (400, 400)
    assert "not valid JSON" in not_json.json()["detail"]


def test_flux_pro_accepts_the_minimum_iterations_and_fills_its_defaults(api: httpx.Client) -> None:
    job_id = submit(
        api, "FLUX_PRO", PUBLIC_ZIP, advance_parameters={"iterations": 100}, trigger_word=None
    )
    (item,) = [job for job in api.get("/list").json() if job["id"] == job_id]
    assert item["advance_parameters"] == {
        "iterations": 100,
        "finetune_type": "FULL",
        "learning_rate": 1e-5,
        "priority": "QUALITY",
        "captioning": True,
        "lora_rank": 32,
        "prompt": "photo of TOK, a plush fox",
        "theme": "GENERAL",
    }


def test_submit_refuses_a_sandbox_url_with_nothing_uploaded(api: httpx.Client) -> None:
    s3_url = presign(api)["s3_url"]
    response = api.post("/submit", json=submit_body("QWEN", s3_url))
    assert response.status_code == 400
    assert "points at no uploaded file" in response.json()["detail"]


def test_the_sdk_extra_fields_are_tolerated_for_flux_pro(api: httpx.Client) -> None:
    body = submit_body("FLUX_PRO", PUBLIC_ZIP, train_type="LORA", machine_type="NVIDIA_H100")
    assert api.post("/submit", json=body).status_code == 200


# Details and list ------------------------------------------------------------------------------


def test_details_takes_a_json_body_on_get(api: httpx.Client) -> None:
    job_id = submit(api, "FLUX_PRO", PUBLIC_ZIP)
    shown = details(api, job_id)
    assert set(shown) == DETAILS_KEYS | {"id"}
    assert shown["id"] == shown["finetune_id"] == job_id
    assert shown["status"] == "REQUESTED"
    assert shown["source_type"] == "AWS_S3"
    assert shown["cloud_storage_url"] is None
    assert shown["error_message"] is None
    assert shown["created_ts"].endswith("Z")


def test_qwen_details_carry_request_id_and_a_distinct_finetune_id(api: httpx.Client) -> None:
    job_id = submit(api, "QWEN", PUBLIC_ZIP)
    shown = details(api, job_id)
    assert set(shown) == DETAILS_KEYS | {"request_id"}
    assert shown["request_id"] == job_id
    assert shown["finetune_id"] != job_id
    missing = api.request("GET", "/details", json={"request_id": shown["finetune_id"]})
    assert missing.status_code == 404


def test_details_without_a_body_or_with_an_unknown_id(api: httpx.Client) -> None:
    no_body = api.get("/details")
    query_instead = api.get("/details", params={"request_id": "x"})
    unknown = api.request("GET", "/details", json={"request_id": "no-such-job"})
    assert (no_body.status_code, query_instead.status_code) == (400, 400)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": "NOT_FOUND",
        "detail": "No fine-tune request with id 'no-such-job'",
    }


def test_list_is_a_plain_array_newest_first_with_both_id_conventions(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    qwen = submit(api, "QWEN", PUBLIC_ZIP)
    sandbox.control.advance_clock(1)
    flux = submit(api, "FAST_FLUX", PUBLIC_ZIP)
    listed = api.get("/list").json()
    assert isinstance(listed, list)
    assert [item.get("id") or item.get("request_id") for item in listed] == [flux, qwen]
    assert set(listed[0]) == LIST_ITEM_KEYS | {"id"}
    assert set(listed[1]) == LIST_ITEM_KEYS | {"request_id"}
    assert listed[0]["segmind_public_model"] is False
    assert listed[0]["model_information"] == {}


def test_list_ignores_paging_parameters(api: httpx.Client, sandbox: RunningSandbox) -> None:
    sandbox.control.seed("segmind", 30)
    assert len(api.get("/list", params={"limit": 5, "page": 2}).json()) == 30


# Lifecycle ----------------------------------------------------------------------------------------


def test_a_job_walks_the_documented_statuses_and_exposes_its_weights(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "FLUX_PRO", upload(api))
    seen = [details(api, job_id)["status"]]
    urls = [details(api, job_id)["cloud_storage_url"]]
    for _ in range(40):
        sandbox.control.advance_clock(30)
        shown = details(api, job_id)
        if shown["status"] != seen[-1]:
            seen.append(shown["status"])
            urls.append(shown["cloud_storage_url"])
    assert seen == STATUSES
    assert urls[:3] == [None, None, None]
    assert all(url and url.endswith(".safetensors") for url in urls[3:])
    assert details(api, job_id)["updated_ts"] > details(api, job_id)["created_ts"]


def test_a_failed_job_shows_failed_with_its_message(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "QWEN", PUBLIC_ZIP)
    sandbox.control.fail("segmind", "jobs", job_id, "GPU overloaded, try with smaller dataset")
    shown = details(api, job_id)
    assert (shown["status"], shown["error_message"]) == (
        "FAILED",
        "GPU overloaded, try with smaller dataset",
    )
    (item,) = api.get("/list").json()
    assert item["status"] == "FAILED"


def test_a_zip_of_subfolders_fails_as_an_empty_dataset(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "QWEN", upload(api, image_zip(("images/a.png", "images/b.png"))))
    assert details(api, job_id)["status"] == "REQUESTED"
    sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    shown = details(api, job_id)
    assert shown["status"] == "FAILED"
    assert shown["error_message"] == (
        "Looks like empty dataset. Please do not create subfolders, only zip the images"
    )
    assert shown["cloud_storage_url"] is None


def test_fast_flux_on_a_private_upload_fails_to_download(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    private = submit(api, "FAST_FLUX", upload(api, public=False))
    public = submit(api, "FAST_FLUX", upload(api, public=True))
    for job_id in (private, public):
        sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    assert (details(api, private)["status"], details(api, private)["error_message"]) == (
        "FAILED",
        "Download failed",
    )
    assert details(api, public)["status"] == "AVAILABLE"


# Pre-signed upload -------------------------------------------------------------------------------


def test_presigned_url_shape(api: httpx.Client, sandbox: RunningSandbox) -> None:
    urls = presign(api, "mascot.zip")
    signed = urlsplit(urls["presigned_url"])
    query = parse_qs(signed.query)
    for name in (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-Signature",
    ):
        assert name in query
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert urls["s3_url"] == urls["presigned_url"].split("?")[0]
    assert urls["s3_url"].startswith(f"{sandbox.url}/_objects/finetune-pipeline/uploads/")
    assert urls["s3_url"].endswith("-mascot.zip")
    public = parse_qs(urlsplit(presign(api, public=True)["presigned_url"]).query)
    assert public["X-Amz-SignedHeaders"] == ["host;x-amz-acl"]


def test_presigned_url_needs_a_name_in_a_json_body(api: httpx.Client) -> None:
    assert api.get("/upload/pre-signed-url").status_code == 400
    response = api.request("GET", "/upload/pre-signed-url", json={"public": True})
    assert response.status_code == 400
    assert "'name' is required" in response.json()["detail"]


def test_private_upload_round_trip(api: httpx.Client) -> None:
    content = image_zip()
    urls = presign(api)
    put = httpx.put(
        urls["presigned_url"], content=content, headers={"Content-Type": "application/zip"}
    )
    assert put.status_code == 200
    assert put.headers["etag"]
    assert httpx.get(urls["s3_url"]).status_code == 403  # private: unsigned reads are refused


def test_public_upload_needs_the_acl_header_and_is_then_readable(api: httpx.Client) -> None:
    content = image_zip()
    urls = presign(api, public=True)
    without = httpx.put(urls["presigned_url"], content=content)
    assert without.status_code == 403
    assert "<Code>AccessDenied</Code>" in without.text
    put = httpx.put(urls["presigned_url"], content=content, headers={"x-amz-acl": "public-read"})
    assert put.status_code == 200
    got = httpx.get(urls["s3_url"])
    assert (got.status_code, got.content) == (200, content)
    assert got.headers["content-length"] == str(len(content))
    head = httpx.head(urls["s3_url"])
    assert (head.status_code, head.headers["content-length"]) == (200, str(len(content)))


def test_acl_header_on_a_private_url_is_refused(api: httpx.Client) -> None:
    urls = presign(api)
    put = httpx.put(urls["presigned_url"], content=b"zip", headers={"x-amz-acl": "public-read"})
    assert put.status_code == 403


def test_a_tampered_signature_is_refused(api: httpx.Client) -> None:
    url = presign(api)["presigned_url"]
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    response = httpx.put(forged, content=b"zip")
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text
    unsigned = httpx.put(url.split("?")[0], content=b"zip")
    assert unsigned.status_code == 403


def test_an_expired_upload_url_is_refused(api: httpx.Client, sandbox: RunningSandbox) -> None:
    url = presign(api)["presigned_url"]
    sandbox.control.advance_clock(3601)
    response = httpx.put(url, content=b"zip")
    assert response.status_code == 403
    assert "Request has expired" in response.text


def test_a_chunked_upload_gets_411(api: httpx.Client) -> None:
    url = presign(api)["presigned_url"]

    def chunks() -> Iterator[bytes]:
        yield b"part one "
        yield b"part two"

    response = httpx.put(url, content=chunks())
    assert response.status_code == 411
    assert "<Code>MissingContentLength</Code>" in response.text


def test_uploads_of_100_mb_or_more_are_refused(api: httpx.Client) -> None:
    url = presign(api)["presigned_url"]
    response = httpx.put(url, content=bytes(100_000_000), timeout=60)
    assert response.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in response.text


def test_missing_objects_are_404(sandbox: RunningSandbox) -> None:
    response = httpx.get(f"{sandbox.url}/_objects/finetune-pipeline/uploads/none.zip")
    assert response.status_code == 404
    assert "<Code>NoSuchKey</Code>" in response.text


# Access update -----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_access_update_takes_form_fields_in_either_encoding(
    api: httpx.Client, encoding: str
) -> None:
    job_id = submit(api, "FLUX_PRO", PUBLIC_ZIP)
    if encoding == "multipart":
        response = api.put(
            "/access-update",
            files={"request_id": (None, job_id), "segmind_public": (None, "True")},
        )
    else:
        response = api.put("/access-update", data={"request_id": job_id, "segmind_public": "True"})
    assert response.status_code == 200
    assert response.content == b""
    assert details(api, job_id)["public_model"] is True
    assert api.get("/list").json()[0]["segmind_public_model"] is True
    api.put("/access-update", data={"request_id": job_id, "segmind_public": "False"})
    assert details(api, job_id)["public_model"] is False


@pytest.mark.parametrize(
    ("kwargs", "status", "complaint"),
    [
        (
            {"data": {"request_id": "JOB", "segmind_public": "true"}},
            400,
            "must be one of True, False",
        ),
        ({"data": {"request_id": "JOB"}}, 400, "missing form field(s): segmind_public"),
        ({"json": {"request_id": "JOB", "segmind_public": "True"}}, 400, "as form fields"),
        ({"data": {"request_id": "nope", "segmind_public": "True"}}, 404, "No fine-tune request"),
    ],
)
def test_access_update_refusals(
    api: httpx.Client, kwargs: dict[str, Any], status: int, complaint: str
) -> None:
    job_id = submit(api, "QWEN", PUBLIC_ZIP)
    for body in kwargs.values():
        if body.get("request_id") == "JOB":
            body["request_id"] = job_id
    response = api.put("/access-update", **kwargs)
    assert response.status_code == status
    assert complaint in response.json()["detail"]


# Download ----------------------------------------------------------------------------------------


def test_file_download_answers_a_presigned_url_valid_one_hour(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "QWEN", upload(api))
    sandbox.control.advance("segmind", "jobs", job_id, to="TRAINING_COMPLETED")
    cloud_storage_url = details(api, job_id)["cloud_storage_url"]
    assert httpx.get(cloud_storage_url).status_code == 403  # private weights
    response = api.request("GET", "/file/download", data={"cloud_storage_url": cloud_storage_url})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    signed = response.text
    assert set(parse_qs(urlsplit(signed).query)) == {"AWSAccessKeyId", "Signature", "Expires"}
    weights = httpx.get(signed)
    assert weights.status_code == 200
    assert weights.headers["content-length"] == str(len(weights.content))
    sandbox.control.advance_clock(3601)
    assert httpx.get(signed).status_code == 403


def test_fast_flux_weights_are_a_direct_public_link(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "FAST_FLUX", PUBLIC_ZIP)
    sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    url = details(api, job_id)["cloud_storage_url"]
    response = httpx.get(url)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) > 0


def test_file_download_refusals(api: httpx.Client, sandbox: RunningSandbox) -> None:
    job_id = submit(api, "FLUX", PUBLIC_ZIP)
    sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    url = details(api, job_id)["cloud_storage_url"]
    unknown = api.request("GET", "/file/download", data={"cloud_storage_url": url + "x"})
    missing = api.request("GET", "/file/download", data={})
    assert (unknown.status_code, missing.status_code) == (404, 400)


def test_weights_cannot_be_downloaded_before_training_completes(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "FLUX", PUBLIC_ZIP)
    sandbox.control.advance("segmind", "jobs", job_id, to="AVAILABLE")
    url = details(api, job_id)["cloud_storage_url"]
    other = submit(api, "FLUX", PUBLIC_ZIP)
    early = api.request(
        "GET", "/file/download", data={"cloud_storage_url": url.replace(job_id, other)}
    )
    assert early.status_code == 404


# No delete, out-of-band changes, seeding ---------------------------------------------------------


def test_there_is_no_delete_endpoint(api: httpx.Client) -> None:
    job_id = submit(api, "QWEN", PUBLIC_ZIP)
    assert api.delete(f"/{job_id}").status_code == 404
    assert api.delete("/list").status_code == 405
    assert api.request("DELETE", "/details", json={"request_id": job_id}).status_code == 405
    assert details(api, job_id)["status"] == "REQUESTED"


def test_access_flipped_out_of_band_shows_in_list_and_details(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    job_id = submit(api, "FLUX_PRO", PUBLIC_ZIP)
    sandbox.control.set_fields("segmind", "jobs", job_id, segmind_public=True)
    assert details(api, job_id)["public_model"] is True
    assert api.get("/list").json()[0]["segmind_public_model"] is True


def test_seeded_jobs_are_listed_with_their_statuses(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    assert sandbox.control.seed("segmind", 10_000) == 10_000
    listed = api.get("/list").json()
    assert len(listed) == 10_000
    statuses = Counter(item["status"] for item in listed)
    # Spread over 30 days: all but the last few minutes' jobs are finished; every 20th failed.
    assert set(statuses) <= {*STATUSES, "FAILED"}
    assert 495 <= statuses["FAILED"] <= 500
    assert statuses["AVAILABLE"] >= 9_490
    models = {item["base_model"] for item in listed}
    assert models == {"QWEN", "FAST_FLUX", "FLUX_PRO", "FLUX"}


# Variants and documented required fields ---------------------------------------------------------


@pytest.mark.parametrize("model", ["QWEN", "FLUX"])
@pytest.mark.parametrize("field", ["machine_type", "train_type"])
def test_qwen_and_flux_submits_need_machine_type_and_train_type(
    api: httpx.Client, model: str, field: str
) -> None:
    body = submit_body(model, PUBLIC_ZIP)
    del body[field]
    response = api.post("/submit", json=body)
    assert response.status_code == 400
    assert f"'{field}' is required for {model}" in response.json()["detail"]


@pytest.mark.parametrize("model", ["FAST_FLUX", "FLUX_PRO"])
def test_fast_flux_and_flux_pro_submits_take_neither(api: httpx.Client, model: str) -> None:
    body = submit_body(model, PUBLIC_ZIP)
    assert "machine_type" not in body and "train_type" not in body
    assert api.post("/submit", json=body).status_code == 200


def test_oldest_first_lists_in_creation_order_with_timestamps(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.set_variants(**{"segmind.order": "oldest-first"})
    first = submit(api, "QWEN", PUBLIC_ZIP)
    sandbox.control.advance_clock(1)
    second = submit(api, "FLUX_PRO", PUBLIC_ZIP)
    listed = api.get("/list").json()
    assert [item.get("request_id") or item.get("id") for item in listed] == [first, second]
    assert listed[0]["created_ts"] < listed[1]["created_ts"]


def test_distinct_flux_ids_key_details_and_access_on_the_finetune_id(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.set_variants(**{"segmind.flux_ids": "distinct"})
    finetune_id = submit(api, "FLUX_PRO", PUBLIC_ZIP)
    (item,) = api.get("/list").json()
    assert item["finetune_id"] == finetune_id
    assert item["id"] != finetune_id
    assert details(api, finetune_id)["id"] == item["id"]
    by_id = api.request("GET", "/details", json={"request_id": item["id"]})
    assert by_id.status_code == 404
    refused = api.put("/access-update", data={"request_id": item["id"], "segmind_public": "True"})
    assert refused.status_code == 404
    flipped = api.put("/access-update", data={"request_id": finetune_id, "segmind_public": "True"})
    assert flipped.status_code == 200
    assert details(api, finetune_id)["public_model"] is True


def test_signed_acl_urls_name_the_header_the_upload_must_send(
    api: httpx.Client, sandbox: RunningSandbox
) -> None:
    sandbox.control.set_variants(**{"segmind.acl_header": "signed"})
    urls = presign(api)  # asked private: the server signs public-read all the same
    query = parse_qs(urlsplit(urls["presigned_url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["host;x-amz-acl"]
    assert query["x-amz-acl"] == ["public-read"]
    assert httpx.put(urls["presigned_url"], content=image_zip()).status_code == 403
    headers = {"x-amz-acl": "public-read"}
    assert httpx.put(urls["presigned_url"], content=image_zip(), headers=headers).status_code == 200
