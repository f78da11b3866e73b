"""State on disk survives a restart: jobs, uploads, signing secret, and the clock."""

from __future__ import annotations

from pathlib import Path

import httpx

from reconcile_sandbox.testing import start_sandbox


def test_jobs_objects_and_urls_survive_a_restart(tmp_path: Path) -> None:
    with start_sandbox(data_dir=tmp_path) as first:
        api = httpx.Client(
            base_url=f"{first.base_url('segmind')}/finetune/request",
            headers={"x-api-key": first.keys["segmind"]},
        )
        urls = api.request("GET", "/upload/pre-signed-url", json={"name": "a"}).json()
        assert httpx.put(urls["presigned_url"], content=b"not yet").status_code == 200
        submitted = api.post(
            "/submit",
            json={
                "name": "kept",
                "data_source_path": "https://datasets.example.invalid/a.zip",
                "instance_prompt": "photo of TOK",
                "base_model": "FLUX_PRO",
            },
        ).json()
        first.control.advance_clock(50)
        clock_before = first.control.now()
        first_port = first.port
    assert (tmp_path / "sandbox.sqlite3").exists()

    with start_sandbox(data_dir=tmp_path) as second:
        api = httpx.Client(
            base_url=f"{second.base_url('segmind')}/finetune/request",
            headers={"x-api-key": second.keys["segmind"]},
        )
        shown = api.request("GET", "/details", json={"request_id": submitted["finetune_id"]})
        assert shown.status_code == 200
        assert shown.json()["finetune"]["name"] == "kept"
        assert shown.json()["finetune"]["status"] == "DATA_PROCESSING"  # 50 s in
        assert second.control.now() >= clock_before
        # The upload URL signed before the restart still verifies (the secret is stored),
        # on the new port too: only the path and query are signed.
        moved = urls["presigned_url"].replace(f":{first_port}/", f":{second.port}/")
        assert httpx.put(moved, content=b"replaced").status_code == 200
