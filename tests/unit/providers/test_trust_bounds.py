"""Provider answers as an attacker (or a broken proxy) may send them: bounded.

A small hostile server on localhost answers the adapters' list requests with a body larger
than any list (streamed, declared, or a compression bomb), a next-page token that never ends,
a page that trickles forever, and JSON nested deeper than a reader can recurse. Each ends in
the provider's own error naming the limit; nothing grows without bound or runs forever.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.config import ProviderSettings, Secret
from reconciler.core.observed import ProviderObservation
from reconciler.providers.cohere.adapter import CohereClient
from reconciler.providers.cohere.profile import CohereOptions
from reconciler.providers.http import MAX_RESPONSE_BYTES, RetryPolicy
from reconciler.providers.qubrid.adapter import QubridClient
from reconciler.providers.qubrid.profile import QubridOptions
from reconciler.providers.segmind.adapter import SegmindClient
from reconciler.providers.segmind.profile import SegmindOptions

QUICK = RetryPolicy(attempts=3, total_seconds=5.0, initial_wait=0.01, max_wait=0.02)
# Long enough for a test that should end in a second not to be cut short on a busy machine;
# far shorter than what the code without the bound takes.
FINISHES_WITHIN = 60.0

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hostile:
    """A server whose every GET is answered by ``handler``; counts requests."""

    url: str
    handler: list[Handler]
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    state = Hostile("", [])

    class Serve(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state.requests.append(self.path)
            # The client stopping to read is what is being tested.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                state.handler[0](self)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _send(handler: BaseHTTPRequestHandler, body: bytes, **headers: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def _observe_within(observe: Callable[[], ProviderObservation]) -> ProviderObservation:
    """``observe()`` run on a thread; fails the test when it has not returned in time."""
    result: list[ProviderObservation | BaseException] = []

    def run() -> None:
        try:
            result.append(observe())
        except BaseException as error:  # reported below, as the test's failure
            result.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(FINISHES_WITHIN)
    assert result, f"observe() still running after {FINISHES_WITHIN} s"
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise AssertionError(f"observe() raised {type(outcome).__name__}") from outcome
    return outcome


def _segmind(url: str) -> SegmindClient:
    settings = ProviderSettings(
        base_url=url, api_key=Secret("sk-bounds-seg"), options=SegmindOptions()
    )
    return SegmindClient(settings, retry=QUICK)


def _streamed_without_end(handler: BaseHTTPRequestHandler) -> None:
    """A JSON array that never ends, sent chunked (no length declared)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"[" + b'{"id": "x", "name": "padding"},' * 30_000
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while True:
        handler.wfile.write(framed)


def test_a_list_larger_than_the_cap_is_refused_naming_it(hostile: Hostile) -> None:
    hostile.handler.append(_streamed_without_end)
    with closing(_segmind(hostile.url)) as client:
        observed = _observe_within(client.observe)
    assert not observed.complete
    assert observed.error is not None
    assert "segmind" in observed.error
    assert f"larger than {MAX_RESPONSE_BYTES // 2**20} MiB" in observed.error


def test_a_declared_length_over_the_cap_is_not_read(hostile: Hostile) -> None:
    def declared(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(MAX_RESPONSE_BYTES * 4))
        handler.end_headers()
        handler.wfile.write(b"[")  # and nothing more: only the header may be believed

    hostile.handler.append(declared)
    with closing(_segmind(hostile.url)) as client:
        observed = _observe_within(client.observe)
    assert observed.error is not None and "MiB" in observed.error
    assert len(hostile.requests) == 1  # a permanent refusal, not retried


def test_a_compression_bomb_is_refused(hostile: Hostile) -> None:
    bomb = gzip.compress(b"[" + b" " * (MAX_RESPONSE_BYTES + 1024) + b"]", compresslevel=9)
    assert len(bomb) < MAX_RESPONSE_BYTES // 100
    hostile.handler.append(lambda handler: _send(handler, bomb, Content_Encoding="gzip"))
    with closing(_segmind(hostile.url)) as client:
        observed = _observe_within(client.observe)
    assert observed.error is not None and "MiB" in observed.error


def test_an_endless_page_token_ends_at_the_list_timeout(hostile: Hostile) -> None:
    def next_page(handler: BaseHTTPRequestHandler) -> None:
        # Each page a little slow, as a real list is, and always one more.
        threading.Event().wait(0.05)
        token = f"t{len(hostile.requests)}"
        _send(handler, f'{{"finetuned_models": [], "next_page_token": "{token}"}}'.encode())

    hostile.handler.append(next_page)
    settings = ProviderSettings(
        base_url=hostile.url, api_key=Secret("sk-bounds-coh"), options=CohereOptions()
    )
    with closing(CohereClient(settings, retry=QUICK, list_timeout=1.0)) as client:
        observed = _observe_within(client.observe)
    assert not observed.complete
    assert observed.error is not None
    assert "cohere" in observed.error and "list_timeout" in observed.error
    assert 2 <= len(hostile.requests) < 200


def test_a_page_that_trickles_forever_ends_at_the_list_timeout(hostile: Hostile) -> None:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        while True:  # one byte now and then: never a read timeout, never an end
            handler.wfile.write(b"1\r\n \r\n")
            handler.wfile.flush()
            threading.Event().wait(0.2)

    hostile.handler.append(trickle)
    settings = ProviderSettings(
        base_url=hostile.url, api_key=Secret("sk-bounds-qub"), options=QubridOptions()
    )
    with closing(QubridClient(settings, retry=QUICK, list_timeout=1.0)) as client:
        observed = _observe_within(client.observe)
    assert not observed.complete
    assert observed.error is not None
    assert "qubrid" in observed.error and "list_timeout" in observed.error


@pytest.mark.parametrize("depth", [2_000, 200_000])
def test_deeply_nested_json_is_that_providers_error_only(hostile: Hostile, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    hostile.handler.append(lambda handler: _send(handler, body))
    with closing(_segmind(hostile.url)) as client:
        observed = _observe_within(client.observe)
    assert not observed.complete
    assert observed.error is not None and "not JSON" in observed.error
