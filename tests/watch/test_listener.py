"""``--listen``: /healthz, /metrics (parsed as Prometheus text) and a signed /webhook, over real
HTTP against a daemon on a thread. Refusals, replays, bursts and connection floods are in
``test_listener_hardening``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.watch.listener import ListenAddressError, event_type_of, parse_listen, sign
from tests.watch.watch_support import CapturedLog, daemon_in_thread, samples, wait_for, write_spec

SECRET = "webhook-secret-for-tests-123"


def test_healthz_and_metrics_report_the_runs(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")
    with daemon_in_thread(repo, listen="127.0.0.1:0", interval=60.0) as daemon:
        assert daemon.listen_address is not None
        host, port = daemon.listen_address
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=5.0) as client:
            health = client.get("/healthz")
            assert health.status_code == 200
            body = health.json()
            assert body["status"] == "ok"
            assert body["last_run"]["result"] == "success"
            assert body["last_run"]["finished"].endswith("Z")

            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            found = samples(metrics.text)
            assert found[("reconcile_runs_total", (("result", "success"),))] == 1.0
            assert found[("reconcile_run_duration_seconds_count", ())] == 1.0
            assert found[("reconcile_changes_applied_total", (("action", "create"),))] == 1.0
            assert found[("reconcile_jobs", (("health", "Pending"),))] == 0.0
            assert found[("reconcile_last_success_timestamp_seconds", ())] > 1.7e9
            assert found[("reconcile_triggers_total", (("source", "start"),))] == 1.0

            assert client.get("/nothing-here").status_code == 404
            # No secret configured: the webhook does not exist.
            assert client.post("/webhook", json={"event": "AVAILABLE"}).status_code == 404


def test_a_signed_webhook_triggers_a_resync_and_counts_its_event(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    log = CapturedLog()
    # Webhook runs half a second apart (two seconds by default): the second delivery's run
    # comes sooner.
    with daemon_in_thread(
        repo,
        log,
        listen="127.0.0.1:0",
        interval=60.0,
        webhook_secret=SECRET,
        webhook_spacing=0.5,
    ) as daemon:
        host, port = daemon.listen_address or ("", 0)
        runs = daemon.runs
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=5.0) as client:
            body = json.dumps({"event": "TRAINING_COMPLETED", "request_id": "r-1"}).encode()
            accepted = client.post(
                "/webhook",
                content=body,
                headers={"X-Hub-Signature-256": sign(SECRET, body)},
            )
            assert accepted.status_code == 202
            assert accepted.json() == {"accepted": True}
            wait_for(lambda: daemon.runs == runs + 1, 5.0, "the resync the webhook asked for")

            # A GitHub push: the event is named in a header, not in the body.
            push = b'{"ref": "refs/heads/main"}'
            github = client.post(
                "/webhook",
                content=push,
                headers={
                    "X-Hub-Signature-256": sign(SECRET, push),
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": "d-1",
                },
            )
            assert github.status_code == 202
            wait_for(lambda: daemon.runs == runs + 2, 10.0, "a second resync")
            found = samples(client.get("/metrics").text)
        assert found[("reconcile_webhook_events_total", (("event", "TRAINING_COMPLETED"),))] == 1
        assert found[("reconcile_webhook_events_total", (("event", "other"),))] == 1
        assert found[("reconcile_triggers_total", (("source", "webhook"),))] == 2
    received = [json.loads(line) for line in log.lines()]
    assert any(e.get("event_type") == "TRAINING_COMPLETED" for e in received)
    assert any(e.get("event_type") == "push" for e in received)
    assert SECRET not in log.text()


def test_healthz_is_503_after_repeated_failures(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")
    (repo / "specs" / "broken.yaml").write_text("apiVersion: reconciler/v1\nkind: Nonsense\n")
    with daemon_in_thread(repo, listen="127.0.0.1:0", interval=0.2, unhealthy_after=2) as daemon:
        host, port = daemon.listen_address or ("", 0)
        wait_for(lambda: daemon.runs >= 2, 5.0, "two runs")
        answer = httpx.get(f"http://{host}:{port}/healthz", timeout=5.0)
        assert answer.status_code == 503
        assert answer.json()["status"] == "failing"
        assert answer.json()["last_run"]["result"] == "invalid"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_listen_addresses_parse(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9464", "localhost", ":80", "host:99999", "host:http"])
def test_bad_listen_addresses_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ListenAddressError, match="HOST:PORT"):
        parse_listen(text)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"event": "TRAINING_COMPLETED"}', "TRAINING_COMPLETED"),
        (b'{"type": "AVAILABLE", "data": {}}', "AVAILABLE"),
        (b'{"status": "INFERENCE_QUEUED"}', "INFERENCE_QUEUED"),
        (b'{"event": "has spaces and <html>"}', None),
        (b"[1, 2]", None),
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_the_event_type_is_read_from_any_json(body: bytes, expected: str | None) -> None:
    assert event_type_of(body) == expected
