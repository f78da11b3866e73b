"""The sandbox framework over real HTTP through a toy provider: auth, errors, lifecycle, control."""

from __future__ import annotations

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox, SandboxControlError


def toy_client(running: RunningSandbox, key: str | None = None) -> httpx.Client:
    token = key if key is not None else running.keys["toy"]
    return httpx.Client(
        base_url=running.base_url("toy"), headers={"Authorization": f"Bearer {token}"}
    )


def test_base_url_and_env_point_at_the_mount(toy_sandbox: RunningSandbox) -> None:
    assert toy_sandbox.base_url("toy") == f"{toy_sandbox.url}/toy/api"
    assert toy_sandbox.env() == {
        "TOY_BASE_URL": f"{toy_sandbox.url}/toy/api",
        "TOY_API_KEY": "sandbox-toy-key",
    }


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "sandbox-toy-key"])
def test_wrong_or_missing_key_gets_the_providers_401(
    toy_sandbox: RunningSandbox, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = httpx.get(f"{toy_sandbox.base_url('toy')}/items", headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "message": "Unauthorized: missing or invalid API key",
        "code": "UNAUTHORIZED",
    }


def test_unknown_route_and_method_answer_in_the_providers_error_shape(
    toy_sandbox: RunningSandbox,
) -> None:
    with toy_client(toy_sandbox) as client:
        missing = client.get("/nowhere")
        wrong_method = client.delete("/items")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "METHOD_NOT_ALLOWED"


def test_provider_error_and_invalid_json_use_the_providers_shape(
    toy_sandbox: RunningSandbox,
) -> None:
    with toy_client(toy_sandbox) as client:
        missing_name = client.post("/items", json={})
        not_json = client.post(
            "/items", content=b"{nope", headers={"Content-Type": "application/json"}
        )
    assert missing_name.status_code == 400
    assert missing_name.json() == {"message": "'name' is required", "code": "invalid_request"}
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["message"]


def test_a_job_walks_its_lifecycle_on_the_simulated_clock(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        item = client.post("/items", json={"name": "a"}).json()
        assert item["status"] == "queued"
        toy_sandbox.control.advance_clock(10)
        assert client.get(f"/items/{item['id']}").json()["status"] == "running"
        toy_sandbox.control.advance_clock(19)
        assert client.get(f"/items/{item['id']}").json()["status"] == "running"
        toy_sandbox.control.advance_clock(1)
        assert client.get(f"/items/{item['id']}").json()["status"] == "done"


def test_speed_makes_time_pass_by_itself(toy_sandbox: RunningSandbox) -> None:
    before = toy_sandbox.control.now()
    toy_sandbox.control.set_speed(1000.0)
    toy_sandbox.control.http.get("/")  # some real time passes
    after = toy_sandbox.control.now()
    assert after > before


def test_one_job_is_advanced_alone_and_can_jump_to_a_status(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        first = client.post("/items", json={"name": "first"}).json()
        second = client.post("/items", json={"name": "second"}).json()
        toy_sandbox.control.advance("toy", "items", first["id"], seconds=15)
        assert client.get(f"/items/{first['id']}").json()["status"] == "running"
        assert client.get(f"/items/{second['id']}").json()["status"] == "queued"
        view = toy_sandbox.control.advance("toy", "items", second["id"], to="done")
        assert view["state"]["status"] == "done"
        assert [entry["status"] for entry in view["state"]["history"]] == [
            "queued",
            "running",
            "done",
        ]
        assert client.get(f"/items/{second['id']}").json()["status"] == "done"


def test_a_job_made_to_fail_shows_the_failed_status_and_message(
    toy_sandbox: RunningSandbox,
) -> None:
    with toy_client(toy_sandbox) as client:
        item = client.post("/items", json={"name": "doomed"}).json()
        toy_sandbox.control.advance_clock(12)
        toy_sandbox.control.fail("toy", "items", item["id"], "GPU overloaded")
        shown = client.get(f"/items/{item['id']}").json()
        assert (shown["status"], shown["error"]) == ("failed", "GPU overloaded")
        toy_sandbox.control.advance_clock(100)
        assert client.get(f"/items/{item['id']}").json()["status"] == "failed"


def test_a_failure_can_be_scheduled_for_later(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        item = client.post("/items", json={"name": "later"}).json()
        toy_sandbox.control.fail("toy", "items", item["id"], "Download failed", in_seconds=5)
        assert client.get(f"/items/{item['id']}").json()["status"] == "queued"
        toy_sandbox.control.advance_clock(5)
        assert client.get(f"/items/{item['id']}").json()["status"] == "failed"


def test_fields_change_out_of_band(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        item = client.post("/items", json={"name": "before", "tags": ["x"]}).json()
        toy_sandbox.control.set_fields("toy", "items", item["id"], name="after", tags=["y", "z"])
        shown = client.get(f"/items/{item['id']}").json()
    assert (shown["name"], shown["tags"]) == ("after", ["y", "z"])


def test_control_refuses_unknown_columns_providers_and_ids(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        item = client.post("/items", json={"name": "a"}).json()
    with pytest.raises(SandboxControlError, match="unknown column"):
        toy_sandbox.control.set_fields("toy", "items", item["id"], colour="red")
    with pytest.raises(SandboxControlError, match="no provider 'nope'"):
        toy_sandbox.control.get("nope", "items", item["id"])
    with pytest.raises(SandboxControlError, match="no toy_items row"):
        toy_sandbox.control.get("toy", "items", "missing")
    with pytest.raises(SandboxControlError, match="unknown status"):
        toy_sandbox.control.advance("toy", "items", item["id"], to="finished")


def test_seeding_inserts_existing_jobs_in_bulk(toy_sandbox: RunningSandbox) -> None:
    assert toy_sandbox.control.seed("toy", 2500, age_seconds=3600) == 2500
    with toy_client(toy_sandbox) as client:
        items = client.get("/items").json()["items"]
    assert len(items) == 2500
    assert {item["status"] for item in items} == {"done"}


def test_reset_forgets_jobs_faults_and_counters(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        client.post("/items", json={"name": "a"})
        toy_sandbox.control.add_fault(kind="error", path="/never")
        toy_sandbox.control.reset()
        assert toy_sandbox.control.faults() == []
        assert toy_sandbox.control.request_counts() == {}
        assert client.get("/items").json() == {"items": []}


def test_requests_are_counted_per_route_template(toy_sandbox: RunningSandbox) -> None:
    with toy_client(toy_sandbox) as client:
        first = client.post("/items", json={"name": "a"}).json()
        second = client.post("/items", json={"name": "b"}).json()
        client.get(f"/items/{first['id']}")
        client.get(f"/items/{second['id']}")
        client.get("/items")
    counts = toy_sandbox.control.request_counts()
    assert counts == {
        "POST /toy/api/items": 2,
        "GET /toy/api/items/{item_id}": 2,
        "GET /toy/api/items": 1,
    }
    log = toy_sandbox.control.request_log(limit=2)
    assert [(entry["method"], entry["status"]) for entry in log] == [("GET", 200), ("GET", 200)]
