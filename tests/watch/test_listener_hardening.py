"""The daemon's HTTP endpoints under hostile callers: a flood of idle connections under a small
descriptor limit, unsigned, wrongly signed, stale and replayed webhook deliveries, a burst of
valid ones, and the server's own limits (idle connections evicted, slow requests cut off)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.watch.listener import (
    DELIVERY_MEMORY,
    MAX_WEBHOOK_BODY,
    REPLAY_WINDOW,
    ConnectionLimits,
    Endpoints,
    Health,
    Listener,
    WebhookVerifier,
    sign,
)
from reconciler.watch.logs import EventLog
from tests.watch.watch_support import (
    CapturedLog,
    DaemonProcess,
    daemon_in_thread,
    samples,
    segmind_jobs,
    wait_for,
    write_spec,
)

SECRET = "hardening-test-webhook-secret-7f3a"
NOW = 1_800_000_000.0


def events(log: CapturedLog, name: str) -> list[dict[str, object]]:
    return [entry for line in log.lines() if (entry := json.loads(line))["event"] == name]


def webhook_runs(log: CapturedLog) -> list[dict[str, object]]:
    return [e for e in events(log, "run.finished") if "webhook" in str(e["triggers"])]


def answered(log: CapturedLog) -> int:
    """Deliveries the finished runs answered, as each run's ``webhooks`` field counts them."""
    return sum(int(str(e.get("webhooks", 0))) for e in events(log, "run.finished"))


# -- 400 idle connections under a descriptor limit of 256 -------------------------------------


# How long one connection attempt may take before it is made afresh. While the server's accept
# queue is full, the kernel drops the attempt's SYN, and connect() would send it again only a
# second later: a flood that asks again at once keeps the server as busy, in a fraction of
# the time.
CONNECT_ATTEMPT = 0.05


def connect_promptly(port: int, patience: float) -> socket.socket | None:
    """A connection to ``port`` within ``patience`` seconds, asked for again after every
    ``CONNECT_ATTEMPT`` without an answer; ``None`` when none was accepted in time."""
    deadline = time.monotonic() + patience
    while (left := deadline - time.monotonic()) > 0:
        try:
            connection = socket.create_connection(
                ("127.0.0.1", port), timeout=min(left, CONNECT_ATTEMPT)
            )
        except TimeoutError:
            continue
        connection.settimeout(patience)
        return connection
    return None


def open_idle_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that never finish a request: half send nothing, half the start
    of a request head (a slowloris)."""
    held: list[socket.socket] = []
    for number in range(count):
        connection = connect_promptly(port, patience=5.0)
        if connection is None:
            for connection in held:
                connection.close()
            raise AssertionError(f"no connection accepted after {number}")
        if number % 2:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        held.append(connection)
    return held


def test_idle_connections_beyond_the_descriptor_limit_neither_silence_healthz_nor_starve_runs(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    daemon = DaemonProcess(repo, sandbox_env, "--interval", "60", fd_limit=256)
    held: list[socket.socket] = []
    try:
        wait_for(lambda: daemon.runs() >= 1, 20.0, "the daemon's first run")
        held = open_idle_connections(daemon.port, 400)

        with httpx.Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=5.0) as probe:
            assert probe.get("/healthz").status_code == 200
            # A run needs descriptors of its own (the spec, the dataset, the provider's
            # connections): it still converges while the connections are held.
            write_spec(repo, "fox-v1")
            wait_for(lambda: segmind_jobs(sandbox, "fox-v1"), 20.0, "the job to be created")
            health = wait_for(
                lambda: (answer := probe.get("/healthz").json())["runs"] >= 2 and answer,
                20.0,
                "the run to finish",
            )
            assert health["last_run"]["result"] == "success", health
            assert probe.get("/healthz").status_code == 200
        assert daemon.process.poll() is None
    finally:
        for connection in held:
            connection.close()
        if daemon.process.poll() is None:
            try:
                code, stderr, took = daemon.stop()
            except subprocess.TimeoutExpired:
                daemon.process.kill()
                raise
        else:
            code, stderr, took = daemon.process.returncode, daemon.process.communicate()[1], 0.0
    for sign_of_exhaustion in ("Too many open files", "EMFILE", "out of system resource"):
        assert sign_of_exhaustion not in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert code == 0, stderr
    assert took < 5.0


# -- webhook authentication over HTTP --------------------------------------------------------


def test_unsigned_wrongly_signed_stale_and_replayed_deliveries_are_refused(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    log = CapturedLog()
    # Webhook runs half a second apart (two seconds by default): the accepted deliveries are
    # answered sooner.
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
        body = b'{"event": "TRAINING_COMPLETED", "request_id": "r-1"}'
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=5.0) as client:

            def post(content: bytes, **headers: str) -> httpx.Response:
                return client.post("/webhook", content=content, headers=headers)

            def accepted_deliveries() -> float:
                found = samples(client.get("/metrics").text)
                return found.get(("reconcile_triggers_total", (("source", "webhook"),)), 0.0)

            refusals = [
                post(body),
                post(body, **{"Authorization": f"Bearer {SECRET}"}),
                post(body, **{"X-Reconcile-Secret": SECRET}),
                post(body, **{"X-Hub-Signature-256": sign("not-the-secret", body)}),
                post(body, **{"X-Hub-Signature-256": "sha256=zz"}),
                post(body + b" ", **{"X-Hub-Signature-256": sign(SECRET, body)}),
            ]
            assert [r.status_code for r in refusals] == [401] * len(refusals)
            assert "no longer accepted" in refusals[1].json()["error"]
            assert "no longer accepted" in refusals[2].json()["error"]

            stale_time = int(time.time() - REPLAY_WINDOW - 60)
            stale = post(
                body,
                **{
                    "X-Reconcile-Timestamp": str(stale_time),
                    "X-Hub-Signature-256": sign(SECRET, body, stale_time),
                },
            )
            assert stale.status_code == 401
            assert "clock" in stale.json()["error"]
            too_large = post(
                b"{" + b" " * MAX_WEBHOOK_BODY + b"}", **{"X-Hub-Signature-256": sign(SECRET, b"")}
            )
            assert too_large.status_code == 413
            assert accepted_deliveries() == 0
            assert daemon.runs == runs

            signature = sign(SECRET, body)
            delivery = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-1"}
            assert post(body, **delivery).status_code == 202
            replayed = post(body, **delivery)
            assert replayed.status_code == 409
            # A new delivery id does not make the same signed body new.
            assert post(body, **{**delivery, "X-GitHub-Delivery": "d-2"}).status_code == 409
            stamp = int(time.time())
            timestamped = {
                "X-Reconcile-Timestamp": str(stamp),
                "X-Hub-Signature-256": sign(SECRET, body, stamp),
            }
            assert post(body, **timestamped).status_code == 202
            assert post(body, **timestamped).status_code == 409
            # Two deliveries accepted, counted the moment they were answered.
            assert accepted_deliveries() == 2
            wait_for(lambda: answered(log) == 2, 10.0, "runs answering both deliveries", log.text)
            responses = [*refusals, stale, too_large, replayed]
        assert 1 <= len(webhook_runs(log)) <= 2
        assert daemon.runs == runs + len(webhook_runs(log))
    for response in responses:
        assert response.headers["content-type"] == "application/json"
        assert SECRET not in response.text
        assert signature.removeprefix("sha256=") not in response.text
    assert SECRET not in log.text()
    assert signature.removeprefix("sha256=") not in log.text()
    refused = events(log, "webhook.refused")
    reasons = [e["reason"] for e in refused]
    assert len(reasons) == len(set(reasons)), "each reason is logged once a minute at most"
    assert {"unsigned", "legacy-secret", "bad-signature", "stale", "replayed"} <= set(reasons)


def test_a_burst_of_valid_deliveries_costs_a_few_runs(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")
    log = CapturedLog()
    with daemon_in_thread(
        repo, log, listen="127.0.0.1:0", interval=60.0, webhook_secret=SECRET
    ) as daemon:
        host, port = daemon.listen_address or ("", 0)
        runs = daemon.runs
        bodies = [json.dumps({"event": "AVAILABLE", "n": n}).encode() for n in range(200)]
        with httpx.Client(
            base_url=f"http://{host}:{port}",
            timeout=10.0,
            limits=httpx.Limits(max_connections=50),
        ) as client:

            def deliver(body: bytes) -> int:
                headers = {"X-Hub-Signature-256": sign(SECRET, body)}
                return client.post("/webhook", content=body, headers=headers).status_code

            with ThreadPoolExecutor(max_workers=50) as pool:
                statuses = list(pool.map(deliver, bodies))
        assert statuses == [202] * 200
        # Every delivery has been answered by a finished run: no run of the burst is to come.
        wait_for(lambda: answered(log) == 200, 20.0, "runs answering the burst", log.text)
        burst_runs = webhook_runs(log)
        assert 1 <= len(burst_runs) <= 3, [e["webhooks"] for e in burst_runs]
        assert daemon.runs == runs + len(burst_runs)


# -- the verifier on its own -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(clock: Clock) -> WebhookVerifier:
    return WebhookVerifier(SECRET, clock=clock)


def signed(
    body: bytes, timestamp: int | None = None, delivery: str | None = None
) -> dict[str, str]:
    headers = {"X-Hub-Signature-256": sign(SECRET, body, timestamp)}
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    if timestamp is not None:
        headers["X-Reconcile-Timestamp"] = str(timestamp)
    return headers


BODY = b'{"zen": "Keep it logically awesome."}'
SIGNATURE = f"X-Hub-Signature-256: {sign(SECRET, BODY)}"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "unsigned"),
        ({"Authorization": f"Bearer {SECRET}"}, "legacy-secret"),
        ({"X-Reconcile-Secret": SECRET}, "legacy-secret"),
        ({"X-Hub-Signature-256": "sha1=" + "0" * 40}, "malformed"),
        ({"X-Hub-Signature-256": sign("another-secret", BODY)}, "bad-signature"),
        ({**signed(BODY), "X-Reconcile-Timestamp": str(int(NOW))}, "bad-signature"),
        ({**signed(BODY, int(NOW)), "X-Reconcile-Timestamp": "-5"}, "bad-timestamp"),
        (signed(BODY, int(NOW - REPLAY_WINDOW - 1)), "stale"),
        (signed(BODY, int(NOW + REPLAY_WINDOW + 1)), "stale"),
    ],
)
def test_the_verifier_refuses(
    verifier: WebhookVerifier, headers: dict[str, str], reason: str
) -> None:
    verdict = verifier.verify(headers, BODY)
    assert (verdict.status, verdict.reason) == (401, reason)
    assert SECRET not in verdict.message


def test_upper_case_hex_and_timestamps_inside_the_window_are_accepted(
    verifier: WebhookVerifier,
) -> None:
    upper = {"X-Hub-Signature-256": "sha256=" + sign(SECRET, BODY)[7:].upper()}
    assert verifier.verify(upper, BODY).accepted
    for offset in (-REPLAY_WINDOW, 0, REPLAY_WINDOW):
        stamp = int(NOW + offset)
        assert verifier.verify(signed(BODY, stamp), BODY).accepted


def test_a_timestamped_message_cannot_pass_as_a_plain_delivery(verifier: WebhookVerifier) -> None:
    stamp = int(NOW - 3 * REPLAY_WINDOW)  # long stale: a capture someone kept
    message = f"{stamp}.".encode() + BODY
    replayed_as_plain = {"X-Hub-Signature-256": sign(SECRET, BODY, stamp)}
    verdict = verifier.verify(replayed_as_plain, message)
    assert (verdict.status, verdict.reason) == (401, "not-json-object")


def test_deliveries_are_remembered_for_a_day_and_the_memory_is_bounded(clock: Clock) -> None:
    verifier = WebhookVerifier(SECRET, clock=clock, capacity=4)
    assert verifier.verify(signed(BODY), BODY).accepted
    clock.now += DELIVERY_MEMORY - 1
    assert verifier.verify(signed(BODY), BODY).reason == "replayed"
    clock.now += 2  # forgotten: a plain delivery has no time to refuse it by (docs/daemon.md)
    assert verifier.verify(signed(BODY), BODY).accepted
    for n in range(10):
        body = json.dumps({"n": n}).encode()
        assert verifier.verify(signed(body, delivery=f"id-{n}"), body).accepted
    assert verifier.verify(signed(BODY), BODY).accepted  # pushed out by newer deliveries


def test_a_delivery_id_seen_before_is_a_replay_whatever_the_body(
    verifier: WebhookVerifier,
) -> None:
    first = b'{"n": 1}'
    second = b'{"n": 2}'
    assert verifier.verify(signed(first, delivery="abc-1"), first).accepted
    again = verifier.verify(signed(second, delivery="abc-1"), second)
    assert (again.status, again.reason) == (409, "replayed")


@pytest.mark.parametrize(
    ("descriptors", "connections", "backlog"),
    [(64, 16, 4), (256, 64, 16), (1024, 256, 64), (1_048_576, 256, 64)],
)
def test_the_connection_budget_is_a_share_of_the_descriptor_limit(
    descriptors: int, connections: int, backlog: int
) -> None:
    limits = ConnectionLimits.for_descriptor_limit(descriptors)
    assert (limits.max_connections, limits.backlog) == (connections, backlog)
    assert limits.max_connections + limits.backlog <= max(descriptors // 3, 20)


# -- the server's limits on their own --------------------------------------------------------


def broken_metrics() -> tuple[bytes, str]:
    raise RuntimeError("the registry broke")


@pytest.fixture
def server_log() -> CapturedLog:
    return CapturedLog()


@pytest.fixture
def small_listener(server_log: CapturedLog) -> Iterator[Listener]:
    endpoints = Endpoints(
        health=lambda: Health(True, {"status": "ok"}),
        metrics=broken_metrics,
        webhook=lambda event: None,
        webhook_secret=SECRET,
    )
    limits = ConnectionLimits(max_connections=4, backlog=4, request_timeout=1.0, keep_alive=1)
    listener = Listener("127.0.0.1", 0, endpoints, log=EventLog(server_log.logger), limits=limits)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


def closed_by_the_server(connection: socket.socket) -> bool:
    """Whether the server closed ``connection`` (waiting up to 5 s for it to), after sending
    whatever it sent."""
    deadline = time.monotonic() + 5.0
    try:
        while (left := deadline - time.monotonic()) > 0:
            connection.settimeout(left)
            if connection.recv(65536) == b"":
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        pass
    return False


def test_idle_connections_over_the_limit_make_room_for_a_request(
    small_listener: Listener,
) -> None:
    port = small_listener.address[1]
    held = open_idle_connections(port, 20)
    try:
        for _ in range(3):
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5.0)
            assert answer.status_code == 200
            assert answer.json() == {"status": "ok"}
        assert small_listener.open_connections <= 4
        assert closed_by_the_server(held[0])  # the oldest idle connection went first
    finally:
        for connection in held:
            connection.close()


def test_a_request_that_never_completes_is_cut_off(
    small_listener: Listener, server_log: CapturedLog
) -> None:
    port = small_listener.address[1]
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert closed_by_the_server(silent)
    with socket.create_connection(("127.0.0.1", port)) as dribbling:
        head = f"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n{SIGNATURE}\r\n\r\n"
        dribbling.sendall(head.encode() + b"{")  # and the other 99 bytes never come
        assert closed_by_the_server(dribbling)
    small_listener.stop()
    assert server_log.lines() == []  # a slow sender cannot write to the daemon's log


def test_an_error_inside_the_server_is_a_daemon_event(
    small_listener: Listener, server_log: CapturedLog
) -> None:
    answer = httpx.get(f"http://127.0.0.1:{small_listener.address[1]}/metrics", timeout=5.0)
    assert answer.status_code == 500
    assert "registry" not in answer.text
    # uvicorn logs the error once the 500 has gone out: wait for the event, not the answer.
    errors = wait_for(lambda: events(server_log, "http.error"), 10.0, "the http.error event")
    assert len(errors) == 1
    assert "RuntimeError: the registry broke" in str(errors[0]["message"])


def test_other_paths_and_methods_answer_json(small_listener: Listener) -> None:
    base = f"http://127.0.0.1:{small_listener.address[1]}"
    missing = httpx.get(f"{base}/nothing", timeout=5.0)
    assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
    wrong = httpx.get(f"{base}/webhook", timeout=5.0)
    assert (wrong.status_code, wrong.json()) == (405, {"error": "not allowed"})


def test_stop_closes_held_connections_at_once(small_listener: Listener) -> None:
    port = small_listener.address[1]
    held = open_idle_connections(port, 3)
    stopping = threading.Thread(target=small_listener.stop)
    started = time.monotonic()
    stopping.start()
    try:
        assert all(closed_by_the_server(connection) for connection in held)
        stopping.join(5.0)
        assert not stopping.is_alive()
        assert time.monotonic() - started < 3.0
    finally:
        for connection in held:
            connection.close()
