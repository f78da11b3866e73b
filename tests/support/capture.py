"""A webhook receiver for the notification tests: a real HTTP server on a thread that records
every request it is sent and answers the status codes it is told to (200 once the list runs
out). Tests wait for what it received with ``wait_for_requests`` (an event, not a sleep)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class CaptureServer:
    """What the server received, and the answers still to give (``statuses``, in order)."""

    url: str = ""
    requests: list[Captured] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def record(self, request: Captured) -> int:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """The requests once at least ``count`` arrived (AssertionError after ``timeout``)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} requests arrived, not {count}")
            return list(self.requests)


@contextlib.contextmanager
def capture_server(path: str = "/hook") -> Iterator[CaptureServer]:
    """A receiver on a free localhost port; ``url`` is its address with ``path``."""
    capture = CaptureServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = capture.record(
                Captured("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: pytest shows what matters

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)
