"""``--listen HOST:PORT``: the daemon's HTTP endpoints, served by uvicorn on a thread of their own.

    GET  /healthz   200 or 503, JSON with the last run's time and result
    GET  /metrics   Prometheus text exposition
    POST /webhook   a resync, for a delivery signed with ``RECONCILE_WEBHOOK_SECRET``

This module owns three things:

- **The server and its limits** (``ConnectionLimits``, ``Listener``). The port may be reachable
  by anyone, and the daemon's own work (git, provider requests, dataset files) needs file
  descriptors, so the connections it serves are bounded by the process's descriptor limit: at
  most a quarter of ``RLIMIT_NOFILE`` (and at most 256) open at once, a listen backlog of a
  quarter of that (asyncio accepts up to a backlog's worth of connections per wake-up, before
  any of them can be refused, so the backlog is part of the budget). A connection must deliver
  its request and be answered within ``request_timeout`` seconds of opening (or of its previous
  answer), and an idle keep-alive connection is closed after ``keep_alive`` seconds. When the
  limit is reached, the *oldest idle* connection (no request in progress: a scanner's silent
  socket, a header sent byte by byte) is closed to make room, so a probe's ``/healthz`` is
  answered at once however many idle connections someone holds; only when every connection is
  busy with a request is the new one closed instead. uvicorn's own ``limit_concurrency`` is not
  enough: it still accepts every connection (a descriptor each) and answers 503, ``/healthz``
  included.
- **Webhook authentication** (``WebhookVerifier``). A delivery carries
  ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw body with the shared secret
  (GitHub's convention), compared in constant time. A sender that can add a header signs a
  timestamp too: with ``X-Reconcile-Timestamp: <unix seconds>`` the HMAC covers
  ``<timestamp>.<body>`` and the timestamp must be within ``REPLAY_WINDOW`` of now. A plain
  GitHub delivery has no signed time; it must be a JSON object (its body starts with ``{``,
  so no timestamped message, which starts with a digit, can pass for one). Every accepted
  delivery is remembered (its signature and its ``X-GitHub-Delivery`` id) for
  ``DELIVERY_MEMORY`` seconds, and a delivery seen again is refused: a replay never triggers a
  second run. The earlier scheme (the secret itself in ``Authorization: Bearer`` or
  ``X-Reconcile-Secret``) is refused: whoever saw one request could replay it forever.
- **The routes** (a small Starlette app). Nothing a caller sends is echoed: refusals are fixed
  sentences, and neither the secret nor a signature is ever in a response or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.watch.logs import EventLog

if sys.platform != "win32":
    import resource

WEBHOOK_SECRET_VARIABLE = "RECONCILE_WEBHOOK_SECRET"  # noqa: S105 (a variable name)
MAX_WEBHOOK_BODY = 1024 * 1024
# Keys under which providers commonly name the event of a delivery. The Segmind payload is
# not documented, so each is tried in turn.
EVENT_KEYS = ("event", "event_type", "type", "status")
_EVENT_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMESTAMP_HEADER = "X-Reconcile-Timestamp"
DELIVERY_HEADER = "X-GitHub-Delivery"
EVENT_HEADER = "X-GitHub-Event"
LEGACY_SECRET_HEADERS = ("Authorization", "X-Reconcile-Secret")
# A signed timestamp this far from the daemon's clock, either way, is refused as stale: wide
# enough for a sender's clock drift and a retry, narrow enough that a captured request is soon
# useless (and within it, it is refused as a replay).
REPLAY_WINDOW = 300.0
# How long an accepted delivery is remembered. Past REPLAY_WINDOW a timestamped delivery is
# refused as stale anyway; a plain GitHub delivery has no time, so it is remembered for a day.
DELIVERY_MEMORY = 24 * 3600.0
# Only accepted deliveries are remembered, so only the secret's holder can fill this.
MAX_REMEMBERED_DELIVERIES = 4096
_TIMESTAMP_TEXT = re.compile(r"[0-9]{1,12}")
_SIGNATURE_TEXT = re.compile(r"sha256=([0-9a-fA-F]{64})")
_DELIVERY_TEXT = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

# Connection budget, as a share of the descriptor limit (see the module's docstring).
CONNECTION_SHARE = 4
MIN_CONNECTIONS = 16
MAX_CONNECTIONS = 256
BACKLOG_SHARE = 4
MIN_BACKLOG = 4
# Without getrlimit (Windows), the budget of a typical Unix soft limit.
ASSUMED_DESCRIPTOR_LIMIT = 1024
# Our answers take microseconds; a client needs at most this long to send a request (a 1 MiB
# webhook body at 100 KiB/s) and read the answer.
REQUEST_TIMEOUT = 10.0
KEEP_ALIVE_SECONDS = 5
_STARTUP_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
# A refusal is logged at most once per reason in this many seconds, with how many were not:
# unauthenticated requests must not be able to flood the daemon's log.
REFUSAL_LOG_INTERVAL = 60.0


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
    """What the routes call into: the daemon supplies these. They run on the server's event
    loop, so each must return at once (``webhook`` only queues a trigger)."""

    health: Callable[[], Health]
    metrics: Callable[[], tuple[bytes, str]]
    webhook: Callable[[str | None], None]
    webhook_secret: str | None


# -- webhook authentication ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a delivery gets: ``status`` 202 when accepted, else a refusal. ``reason`` is a
    fixed word for the log, ``message`` a fixed sentence for the caller."""

    status: int
    reason: str
    message: str

    @property
    def accepted(self) -> bool:
        return self.status == 202


ACCEPTED = Verdict(202, "accepted", "accepted")
UNSIGNED = Verdict(
    401,
    "unsigned",
    f"unsigned delivery: sign the body with the shared secret in {SIGNATURE_HEADER}",
)
LEGACY = Verdict(
    401,
    "legacy-secret",
    "the shared secret in a header is no longer accepted (it could be replayed):"
    f" sign the body in {SIGNATURE_HEADER} instead",
)
MALFORMED = Verdict(401, "malformed", f"{SIGNATURE_HEADER} must be sha256=<64 hex digits>")
BAD_SIGNATURE = Verdict(401, "bad-signature", "the signature does not match the body")
BAD_TIMESTAMP = Verdict(401, "bad-timestamp", f"{TIMESTAMP_HEADER} must be unix seconds")
STALE = Verdict(
    401,
    "stale",
    f"{TIMESTAMP_HEADER} is more than {REPLAY_WINDOW:g} s from the daemon's clock",
)
NOT_AN_OBJECT = Verdict(
    401,
    "not-json-object",
    f"a delivery without {TIMESTAMP_HEADER} must be a JSON object (content type application/json)",
)
REPLAYED = Verdict(409, "replayed", "this delivery was already received")
TOO_LARGE = Verdict(413, "too-large", f"body over {MAX_WEBHOOK_BODY} bytes")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Hub-Signature-256`` value of ``body`` (timestamped: of ``<timestamp>.<body>``)."""
    message = body if timestamp is None else f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookVerifier:
    """Checks deliveries against the shared secret and remembers the accepted ones. Safe to
    call from any thread; ``clock`` is unix time (a test's fake clock)."""

    def __init__(
        self,
        secret: str,
        *,
        window: float = REPLAY_WINDOW,
        memory: float = DELIVERY_MEMORY,
        capacity: int = MAX_REMEMBERED_DELIVERIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = secret.encode()
        self._window = window
        self._memory = memory
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when it is forgotten

    def precheck(self, headers: Mapping[str, str]) -> Verdict | None:
        """The refusal that needs no body (no signature at all), else None: an unsigned
        request is refused before its body is read."""
        if headers.get(SIGNATURE_HEADER) is not None:
            return None
        if any(headers.get(name) is not None for name in LEGACY_SECRET_HEADERS):
            return LEGACY
        return UNSIGNED

    def verify(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        """Accept (and remember) a delivery, or say why not."""
        refusal = self.precheck(headers)
        if refusal is not None:
            return refusal
        given = _SIGNATURE_TEXT.fullmatch(headers.get(SIGNATURE_HEADER, "").strip())
        if given is None:
            return MALFORMED
        timestamp_text = headers.get(TIMESTAMP_HEADER)
        timestamp: int | None = None
        if timestamp_text is not None:
            if not _TIMESTAMP_TEXT.fullmatch(timestamp_text.strip()):
                return BAD_TIMESTAMP
            timestamp = int(timestamp_text)
            message = f"{timestamp}.".encode() + body
        else:
            message = body
        expected = hmac.new(self._key, message, hashlib.sha256).hexdigest()
        # compare_digest on bytes of equal form (lower-case hex): constant time.
        if not hmac.compare_digest(expected.encode(), given.group(1).lower().encode()):
            return BAD_SIGNATURE
        now = self._clock()
        if timestamp is not None and abs(now - timestamp) > self._window:
            return STALE
        if timestamp is None and not body.lstrip().startswith(b"{"):
            return NOT_AN_OBJECT
        keys = [f"mac:{expected}"]
        delivery = (headers.get(DELIVERY_HEADER) or "").strip()
        if _DELIVERY_TEXT.fullmatch(delivery):
            keys.append(f"id:{delivery}")
        return self._remember(keys, now)

    def _remember(self, keys: list[str], now: float) -> Verdict:
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if any(key in self._seen for key in keys):
                return REPLAYED
            for key in keys:
                self._seen[key] = now + self._memory
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
        return ACCEPTED


# -- connection limits -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionLimits:
    """How much of the process the HTTP server may hold (see the module's docstring)."""

    max_connections: int
    backlog: int
    request_timeout: float = REQUEST_TIMEOUT
    keep_alive: int = KEEP_ALIVE_SECONDS

    @classmethod
    def for_descriptor_limit(cls, limit: int) -> ConnectionLimits:
        """The limits under a soft ``RLIMIT_NOFILE`` of ``limit``: at most a quarter of the
        descriptors for open connections and another sixteenth for the accept backlog, so
        that most of them stay for the daemon's own work."""
        connections = min(MAX_CONNECTIONS, max(MIN_CONNECTIONS, limit // CONNECTION_SHARE))
        return cls(connections, max(MIN_BACKLOG, connections // BACKLOG_SHARE))

    @classmethod
    def for_this_process(cls) -> ConnectionLimits:
        return cls.for_descriptor_limit(descriptor_limit())


def descriptor_limit() -> int:
    """This process's soft limit of open file descriptors (unlimited counts as large)."""
    if sys.platform == "win32":
        return ASSUMED_DESCRIPTOR_LIMIT
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS * CONNECTION_SHARE if soft == resource.RLIM_INFINITY else soft


class _ConnectionGuard:
    """The open connections of one server, oldest first. Used on its event loop only."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: dict[_GuardedProtocol, None] = {}

    def admit(self, new: _GuardedProtocol) -> None:
        self._open[new] = None
        if len(self._open) <= self.limits.max_connections:
            return
        victim = next(
            (connection for connection in self._open if connection is not new and connection.idle),
            new,
        )
        self.release(victim)
        victim.close_now()

    def release(self, connection: _GuardedProtocol) -> None:
        self._open.pop(connection, None)

    @property
    def open_connections(self) -> int:
        return len(self._open)


class _GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with the guard's limit and a deadline for each request."""

    guard: ClassVar[_ConnectionGuard]
    _deadline: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> bool:
        """No request in progress: waiting for one (however much of its head has arrived)."""
        return self.cycle is None or self.cycle.response_complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()
        self.guard.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        self.guard.release(self)
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request on this connection gets the same time

    def shutdown(self) -> None:
        super().shutdown()
        if not self.idle:
            # A request still in progress at shutdown is a slow client: our answers take
            # microseconds. Waiting for it would delay the daemon's exit.
            self.close_now()

    def close_now(self) -> None:
        self._disarm_deadline()
        self.transport.abort()

    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self._deadline = self.loop.call_later(self.guard.limits.request_timeout, self.close_now)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def _protocol_class(guard: _ConnectionGuard) -> type[_GuardedProtocol]:
    """A protocol class bound to ``guard`` (uvicorn builds each connection's protocol from a
    class, with arguments of its own)."""

    class GuardedH11Protocol(_GuardedProtocol):
        pass

    GuardedH11Protocol.guard = guard
    return GuardedH11Protocol


# -- the routes ------------------------------------------------------------------------------


class _RefusalLog:
    """``webhook.refused`` lines, at most one per reason per ``REFUSAL_LOG_INTERVAL``."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._last: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def refused(self, verdict: Verdict) -> None:
        now = time.monotonic()
        last = self._last.get(verdict.reason)
        if last is not None and now - last < REFUSAL_LOG_INTERVAL:
            self._unlogged[verdict.reason] = self._unlogged.get(verdict.reason, 0) + 1
            return
        self._last[verdict.reason] = now
        self._log.warning(
            "webhook.refused",
            f"webhook delivery refused ({verdict.status}): {verdict.message}",
            reason=verdict.reason,
            not_logged_since=self._unlogged.pop(verdict.reason, 0),
        )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _webhook_event(headers: Mapping[str, str], body: bytes) -> str | None:
    event = event_type_of(body)
    if event is None:
        header = headers.get(EVENT_HEADER) or ""
        event = header if _EVENT_TEXT.fullmatch(header) else None
    return event


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is over ``MAX_WEBHOOK_BODY`` (read no further than that).
    Raises ``ClientDisconnect`` when the connection closed first (its deadline passed)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_WEBHOOK_BODY):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BODY:
            return None
    return bytes(body)


def create_app(
    endpoints: Endpoints, verifier: WebhookVerifier | None, refusals: _RefusalLog
) -> Starlette:
    """The three routes; every other path or method answers a JSON 404 or 405."""

    async def healthz(request: Request) -> Response:
        health = endpoints.health()
        return JSONResponse(dict(health.document), status_code=200 if health.healthy else 503)

    async def metrics(request: Request) -> Response:
        body, content_type = endpoints.metrics()
        return Response(body, headers={"Content-Type": content_type})

    async def webhook(request: Request) -> Response:
        if verifier is None:
            return _error(404, "not found")
        verdict = verifier.precheck(request.headers)
        body: bytes | None = None
        if verdict is None:
            try:
                body = await _read_body(request)
            except ClientDisconnect:
                # Closed by its deadline, or by the caller: there is no one to answer, and
                # nothing worth a log line (a slow sender could otherwise write one at will).
                return Response(status_code=400)
            verdict = TOO_LARGE if body is None else verifier.verify(request.headers, body)
        if body is None or not verdict.accepted:
            refusals.refused(verdict)
            return _error(verdict.status, verdict.message)
        endpoints.webhook(_webhook_event(request.headers, body))
        return JSONResponse({"accepted": True}, status_code=202)

    async def http_error(request: Request, error: Exception) -> Response:
        status = error.status_code if isinstance(error, HTTPException) else 500
        return _error(status, "not found" if status == 404 else "not allowed")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/webhook", webhook, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
    )


# -- the server ------------------------------------------------------------------------------


class _ForwardErrors(logging.Handler):
    """uvicorn's error lines (an exception in the app) as the daemon's ``http.error`` events:
    one log format, and through the daemon's redaction."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.ERROR)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message = f"{message}: {type(error).__name__}: {error}"
        self._log.error("http.error", message)


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class Listener:
    """The HTTP server on its thread; ``address`` is the bound (host, port). Binding happens
    here, so a port in use raises ``OSError`` before anything starts."""

    def __init__(
        self,
        host: str,
        port: int,
        endpoints: Endpoints,
        *,
        log: EventLog | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.limits = limits or ConnectionLimits.for_this_process()
        self._log = log or EventLog()
        self._guard = _ConnectionGuard(self.limits)
        verifier = WebhookVerifier(endpoints.webhook_secret) if endpoints.webhook_secret else None
        protocol = _protocol_class(self._guard)
        config = uvicorn.Config(
            create_app(endpoints, verifier, _RefusalLog(self._log)),
            http=protocol,
            loop="asyncio",
            ws="none",
            lifespan="off",
            interface="asgi3",
            # uvicorn leaves the process's logging alone; its errors reach the daemon's log
            # through _ForwardErrors, and there is no access log (a scrape every 15 s).
            log_config=None,
            log_level="error",
            access_log=False,
            # Behind a proxy the client address is not used for anything: trust no header.
            proxy_headers=False,
            server_header=False,
            backlog=self.limits.backlog,
            timeout_keep_alive=self.limits.keep_alive,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._socket = _bind(host, port, self.limits.backlog)
        self._errors = _ForwardErrors(self._log)
        self._propagated = True  # uvicorn.error's own setting, put back by stop()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="watch-http",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def open_connections(self) -> int:
        """Connections open right now (read from another thread: a moment's value)."""
        return self._guard.open_connections

    def start(self) -> None:
        """Serve; returns once the server accepts connections."""
        errors = logging.getLogger("uvicorn.error")
        errors.addHandler(self._errors)
        # Only as the daemon's event: propagated to a root logger without handlers, Python's
        # last-resort handler would print uvicorn's traceback on stderr.
        self._propagated = errors.propagate
        errors.propagate = False
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError("the HTTP server did not start (see the log above)")
            time.sleep(0.01)

    def stop(self) -> None:
        """Close every connection and the socket, and wait for the thread. Idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_STOP_TIMEOUT)
        self._socket.close()
        errors = logging.getLogger("uvicorn.error")
        errors.removeHandler(self._errors)
        errors.propagate = self._propagated
