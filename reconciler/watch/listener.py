"""``--listen HOST:PORT``: the daemon's HTTP endpoints, served by the standard library on a
thread (three tiny routes do not need an ASGI stack, and a ``ThreadingHTTPServer`` stops
promptly on shutdown).

    GET  /healthz   200 or 503, JSON with the last run's time and result
    GET  /metrics   Prometheus text exposition
    POST /webhook   an immediate resync; accepts any JSON (a provider's job-status event)

``/webhook`` is guarded by the shared secret in ``RECONCILE_WEBHOOK_SECRET``, given as
``Authorization: Bearer <secret>`` or ``X-Reconcile-Secret: <secret>`` and compared in constant
time. Without the variable the route answers 404: an endpoint that triggers provider requests
is never open to anyone who can reach the port.
"""

from __future__ import annotations

import hmac
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_SECRET_VARIABLE = "RECONCILE_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
MAX_WEBHOOK_BODY = 1024 * 1024
# Keys under which providers commonly name the event of a delivery. The Segmind payload is
# not documented, so each is tried in turn.
EVENT_KEYS = ("event", "event_type", "type", "status")
_EVENT_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class ListenAddressError(ValueError):
    """``--listen`` is not ``HOST:PORT``."""


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` -> ``("127.0.0.1", 9464)``; ``"[::1]:9464"`` works too."""
    host, separator, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenAddressError(
            f"--listen {value!r}: give HOST:PORT, e.g. 127.0.0.1:9464 (0.0.0.0:9464 in a container)"
        )
    return host, int(port_text)


def event_type_of(body: bytes) -> str | None:
    """The event a webhook delivery names, if it names one in a recognisable place."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    for key in EVENT_KEYS:
        value = document.get(key)
        if isinstance(value, str) and _EVENT_TEXT.fullmatch(value):
            return value
    return None


@dataclass(frozen=True)
class Health:
    """What ``/healthz`` answers."""

    healthy: bool
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Endpoints:
    """What the routes call into: the daemon supplies these."""

    health: Callable[[], Health]
    metrics: Callable[[], tuple[bytes, str]]
    webhook: Callable[[str | None], None]
    webhook_secret: str | None


def _authorised(headers: Message, secret: str) -> bool:
    expected = secret.encode()
    given = headers.get("X-Reconcile-Secret")
    if given is None:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else None
    # compare_digest on bytes: constant time whatever the input, and no error on non-ASCII.
    return given is not None and hmac.compare_digest(given.encode(), expected)


def _handler_class(endpoints: Endpoints) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reconcile"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are not logged: a scraper every 15 s would drown the daemon's log."""

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_json(self, status: int, document: Mapping[str, Any]) -> None:
            self._send(status, json.dumps(document).encode() + b"\n", "application/json")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                health = endpoints.health()
                self._send_json(200 if health.healthy else 503, health.document)
            elif path == "/metrics":
                body, content_type = endpoints.metrics()
                self._send(200, body, content_type)
            else:
                self._send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != "/webhook" or endpoints.webhook_secret is None:
                self._send_json(404, {"error": "not found"})
                return
            if not _authorised(self.headers, endpoints.webhook_secret):
                self._send_json(401, {"error": "missing or wrong webhook secret"})
                return
            length_text = self.headers.get("Content-Length") or "0"
            if not length_text.isdigit() or int(length_text) > MAX_WEBHOOK_BODY:
                self._send_json(413, {"error": f"body over {MAX_WEBHOOK_BODY} bytes"})
                return
            body = self.rfile.read(int(length_text))
            endpoints.webhook(event_type_of(body))
            self._send_json(202, {"accepted": True})

    return Handler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Listener:
    """The HTTP server on its thread; ``address`` is the bound (host, port)."""

    def __init__(self, host: str, port: int, endpoints: Endpoints) -> None:
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), _handler_class(endpoints))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="watch-http",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(1.0)
