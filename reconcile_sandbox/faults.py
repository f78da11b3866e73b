"""Fault injection: rules chosen by tests, applied to matching requests by an ASGI middleware.

A rule matches on method and a path glob (optionally within one provider) and fires with a
probability (seedable, for deterministic tests) at most ``count`` times. Kinds:

``error``          answer ``status`` (default 503) in the provider's error shape, or with ``body``
                   when given (e.g. a FastAPI-style 422 ``{"detail": [{"loc", "msg", "type"}]}``,
                   or a 409 conflict); no handler runs, unless ``after_commit``: then the
                   handler runs (it commits) and its answer is replaced by the error, as a
                   proxy that fails after the backend did
``status``         run the handler (it commits), then answer with ``status`` (a 2xx; default
                   201) instead of its own, with ``body`` instead of its body when given (``""``
                   for none, text that is not JSON for an unreadable answer); a 204 has no body.
                   Only a successful answer is changed: an error passes as it is
``rate_limit``     answer 429 with ``Retry-After: retry_after``; no handler runs
``drop``           close the connection before any response; no handler runs
``slow``           wait ``delay`` seconds, then handle normally (combines with the others);
                   with ``after_commit``, handle first (it commits), then answer ``delay``
                   seconds late: a client that gave up waiting missed a write that happened.
                   Removing the rule (or clearing the faults) ends the waits it started, so
                   a test can hold requests until an event and then let them go
``lost_response``  run the handler (it commits), then close the connection instead of answering
``list_lag``       handlers that list call ``SandboxContext.list_lag_cutoff`` and hide rows
                   created or changed in the last ``lag`` simulated seconds

Rules live in memory: a restart clears them. Control routes (``/_sandbox/``) are never faulted.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import json
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, Literal, get_args

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconcile_sandbox.requestlog import RequestLog

FaultKind = Literal["error", "rate_limit", "drop", "slow", "lost_response", "list_lag", "status"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


class FaultSpecError(ValueError):
    """A fault rule sent to the control API is malformed."""


@dataclass(frozen=True)
class FaultRule:
    """One injected fault; see the module docstring for the kinds."""

    id: int
    kind: FaultKind
    method: str = "*"
    path: str = "*"
    provider: str | None = None
    probability: float = 1.0
    remaining: int | None = None
    """Times left to fire; ``None`` fires forever."""
    seed: int | None = None
    status: int = 503
    retry_after: float = 1.0
    delay: float = 1.0
    lag: float = 30.0
    message: str = "The service is temporarily unavailable (sandbox fault)."
    after_commit: bool = False
    body: Any = None
    """``error`` and ``status``: the body to answer with (a string as it is, anything else as
    JSON); ``None`` keeps the provider's error shape (``error``) or the handler's body."""
    content_type: str = "application/json"
    """The ``Content-Type`` sent with ``body``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "provider": self.provider,
            "probability": self.probability,
            "count": self.remaining,
            "seed": self.seed,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "lag": self.lag,
            "message": self.message,
            "after_commit": self.after_commit,
            "body": self.body,
            "content_type": self.content_type,
        }

    def body_bytes(self) -> bytes | None:
        """``body`` as sent: a string as it is, anything else as JSON, ``None`` if unset."""
        if self.body is None:
            return None
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


def parse_fault(spec: Mapping[str, Any], rule_id: int) -> FaultRule:
    """Build a rule from the control API's JSON, naming the bad field on error."""
    known = {
        "kind", "method", "path", "provider", "probability", "count", "seed",
        "status", "retry_after", "delay", "lag", "message", "after_commit",
        "body", "content_type",
    }  # fmt: skip
    unknown = sorted(set(spec) - known)
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(unknown)}")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"'kind' must be one of {', '.join(FAULT_KINDS)}; got {kind!r}")

    def number(name: str, default: float, low: float, high: float | None = None) -> float:
        value = spec.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultSpecError(f"'{name}' must be a number; got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise FaultSpecError(f"'{name}' must be {bound}; got {value}")
        return float(value)

    count = spec.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise FaultSpecError(f"'count' must be a positive integer or null; got {count!r}")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise FaultSpecError(f"'seed' must be an integer or null; got {seed!r}")
    if kind == "status":
        status = int(number("status", 201, 200, 299))
    else:
        status = int(number("status", 503 if kind != "rate_limit" else 429, 400, 599))
    if "body" in spec and kind not in ("error", "status"):
        raise FaultSpecError("'body' applies to faults of kind 'error' or 'status' only")
    for name in ("method", "path", "provider", "message", "content_type"):
        if name in spec and spec[name] is not None and not isinstance(spec[name], str):
            raise FaultSpecError(f"'{name}' must be a string; got {spec[name]!r}")
    after_commit = spec.get("after_commit", False)
    if not isinstance(after_commit, bool):
        raise FaultSpecError(f"'after_commit' must be true or false; got {after_commit!r}")
    if after_commit and kind not in ("error", "slow"):
        raise FaultSpecError("'after_commit' applies to faults of kind 'error' or 'slow' only")
    return FaultRule(
        id=rule_id,
        kind=kind,
        method=str(spec.get("method") or "*").upper(),
        path=str(spec.get("path") or "*"),
        provider=spec.get("provider"),
        probability=number("probability", 1.0, 0.0, 1.0),
        remaining=count,
        seed=seed,
        status=status,
        retry_after=number("retry_after", 1.0, 0.0),
        delay=number("delay", 1.0, 0.0, 600.0),
        lag=number("lag", 30.0, 0.0),
        message=str(spec.get("message") or FaultRule.message),
        after_commit=after_commit,
        body=spec.get("body"),
        content_type=str(spec.get("content_type") or FaultRule.content_type),
    )


@dataclass
class _ArmedRule:
    rule: FaultRule
    random: random.Random = field(default_factory=random.Random)


class FaultBook:
    """The active rules; thread-safe. ``mounts`` maps provider name to its path prefix."""

    def __init__(self, mounts: Mapping[str, str]) -> None:
        self._mounts = dict(mounts)
        self._rules: list[_ArmedRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # Rules removed by a test (not those used up by their count): their waits end.
        self._released: set[int] = set()

    def add(self, spec: Mapping[str, Any]) -> FaultRule:
        rule = parse_fault(spec, next(self._ids))
        if rule.provider is not None and rule.provider not in self._mounts:
            known = ", ".join(sorted(self._mounts))
            raise FaultSpecError(f"'provider' must be one of {known}; got {rule.provider!r}")
        with self._lock:
            self._rules.append(_ArmedRule(rule, random.Random(rule.seed)))
        return rule

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return [armed.rule for armed in self._rules]

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [armed for armed in self._rules if armed.rule.id != rule_id]
            if len(self._rules) == before:
                return False
            self._released.add(rule_id)
            return True

    def clear(self, provider: str | None = None) -> None:
        with self._lock:
            kept = [
                armed
                for armed in self._rules
                if provider is not None and armed.rule.provider != provider
            ]
            self._released.update(
                {armed.rule.id for armed in self._rules} - {armed.rule.id for armed in kept}
            )
            self._rules = kept

    def released(self, rule_id: int) -> bool:
        """Whether a test removed the rule ``rule_id`` (its ``slow`` waits end early)."""
        with self._lock:
            return rule_id in self._released

    def fire(self, method: str, path: str, kinds: tuple[str, ...]) -> list[FaultRule]:
        """The rules of ``kinds`` that fire for this request, in the order they were added.

        Firing consumes one of a rule's ``count``; an exhausted rule is removed.
        """
        fired: list[FaultRule] = []
        with self._lock:
            kept: list[_ArmedRule] = []
            for armed in self._rules:
                rule = armed.rule
                if rule.kind not in kinds or not self._matches(rule, method, path):
                    kept.append(armed)
                    continue
                # One draw per request the rule applies to, so a seeded rule fires on the same
                # requests whatever other rules exist.
                if armed.random.random() < rule.probability:
                    fired.append(rule)
                    if rule.remaining is not None and rule.remaining <= 1:
                        continue  # exhausted: drop the rule
                    if rule.remaining is not None:
                        armed.rule = replace(rule, remaining=rule.remaining - 1)
                kept.append(armed)
            self._rules = kept
        return fired

    def _matches(self, rule: FaultRule, method: str, path: str) -> bool:
        if rule.method not in ("*", method):
            return False
        if rule.provider is None:
            return fnmatch.fnmatchcase(path, rule.path)
        mount = self._mounts[rule.provider]
        if path != mount and not path.startswith(mount + "/"):
            return False
        # Within a provider the pattern may be written relative to its mount.
        return fnmatch.fnmatchcase(path, rule.path) or fnmatch.fnmatchcase(
            path[len(mount) :], rule.path
        )

    def list_lag(self, method: str, path: str) -> float | None:
        """The largest lag (simulated seconds) of the ``list_lag`` rules firing for a request."""
        fired = self.fire(method, path, ("list_lag",))
        return max((rule.lag for rule in fired), default=None)


ErrorRenderer = Callable[[str, int, str, str], tuple[bytes, str]]
"""(path, status, message, code) -> (body, content type) in the shape of the path's provider."""

# How often a held ``slow`` request looks whether its rule was removed.
_RELEASE_POLL_SECONDS = 0.02

_REQUEST_FAULTS = ("error", "rate_limit", "drop", "slow", "lost_response", "status")


class FaultMiddleware:
    """Applies fired rules around the app and records every request in the ``RequestLog``."""

    def __init__(
        self,
        app: ASGIApp,
        book: FaultBook,
        log: RequestLog,
        render_error: ErrorRenderer,
        exempt_prefix: str = "/_sandbox",
    ) -> None:
        self.app = app
        self.book = book
        self.log = log
        self.render_error = render_error
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == self.exempt_prefix or path.startswith(self.exempt_prefix + "/"):
            await self.app(scope, receive, send)
            return
        status_seen: list[int] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(int(message["status"]))
            await send(message)

        fault_name: str | None = None
        try:
            fired = self.book.fire(method, path, _REQUEST_FAULTS)
            late = 0.0
            for rule in fired:
                if rule.kind == "slow":
                    fault_name = "slow"
                    if rule.after_commit:
                        late += rule.delay
                    else:
                        await self._wait(rule)
            outcome = next((rule for rule in fired if rule.kind != "slow"), None)
            if outcome is None and late:
                fault_name = "late_response"
                await _answer_late(self.app, scope, receive, recording_send, late)
            elif outcome is None:
                await self.app(scope, receive, recording_send)
            elif outcome.kind in ("error", "rate_limit"):
                fault_name = outcome.kind
                if outcome.after_commit:
                    fault_name = "error_after_commit"
                    await self.app(scope, receive, _discarding_send)
                await self._answer_error(outcome, path, recording_send)
            elif outcome.kind == "status":
                fault_name = "status"
                await _answer_other_status(self.app, scope, receive, recording_send, outcome)
            elif outcome.kind == "drop":
                fault_name = "drop"
                await _drop_connection(send)
            else:
                fault_name = "lost_response"
                await self.app(scope, receive, _discarding_send)
                await _drop_connection(send)
        finally:
            self.log.record(
                method=method,
                path=path,
                route=_route_template(scope),
                status=status_seen[0] if status_seen else None,
                fault=fault_name,
            )

    async def _wait(self, rule: FaultRule) -> None:
        """Sleep ``rule.delay`` seconds, or until a test removes the rule."""
        deadline = asyncio.get_running_loop().time() + rule.delay
        while not self.book.released(rule.id):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, _RELEASE_POLL_SECONDS))

    async def _answer_error(self, rule: FaultRule, path: str, send: Send) -> None:
        if rule.kind == "rate_limit":
            status, code, message = 429, "TOO_MANY_REQUESTS", "Too many requests (sandbox fault)."
        else:
            status, message = rule.status, rule.message
            code = HTTPStatus(status).name if status in HTTPStatus._value2member_map_ else "ERROR"
        body, content_type = self.render_error(path, status, message, code)
        given = rule.body_bytes()
        if given is not None:
            body, content_type = given, rule.content_type
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        if rule.kind == "rate_limit":
            headers.append((b"retry-after", _retry_after_value(rule.retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _retry_after_value(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


async def _discarding_send(message: Message) -> None:
    """Swallows a response whose delivery is to be lost."""


async def _run_held(app: ASGIApp, scope: Scope, receive: Receive) -> list[Message]:
    """Run the request to its end (it commits), keeping its answer's messages unsent."""
    held: list[Message] = []

    async def holding_send(message: Message) -> None:
        held.append(message)

    await app(scope, receive, holding_send)
    return held


async def _answer_other_status(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, rule: FaultRule
) -> None:
    """Run the request to its end (it commits), then answer a success with ``rule.status``
    (and ``rule.body``) instead; an error answer is sent as it was."""
    held = await _run_held(app, scope, receive)
    start = next((m for m in held if m["type"] == "http.response.start"), None)
    if start is None or not 200 <= int(start["status"]) < 300:
        for message in held:
            await send(message)
        return
    body = rule.body_bytes()
    headers = [
        (name, value) for name, value in start.get("headers", []) if name != b"content-length"
    ]
    if body is None:
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
    else:
        headers = [(name, value) for name, value in headers if name != b"content-type"]
        headers.append((b"content-type", rule.content_type.encode()))
    if rule.status == 204:
        body = b""  # a 204 has no content, whatever the handler or the rule said
        headers = [(name, value) for name, value in headers if name != b"content-type"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": rule.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _answer_late(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, delay: float
) -> None:
    """Run the request to its end (it commits), then answer ``delay`` seconds later."""
    held = await _run_held(app, scope, receive)
    await asyncio.sleep(delay)
    for message in held:
        await send(message)


async def _drop_connection(send: Send) -> None:
    """Close the client's TCP connection without a (complete) response.

    ASGI has no message for this, so reach the transport through uvicorn's request cycle
    (the object whose bound method ``send`` is), which both its HTTP implementations expose.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("the 'drop' faults need the sandbox to run under uvicorn")
    transport.close()
    # Mark the cycle disconnected so uvicorn does not try to answer a 500 on the closed socket.
    if cycle is not None and hasattr(cycle, "disconnected"):
        cycle.disconnected = True
    await asyncio.sleep(0)


def _route_template(scope: Scope) -> str | None:
    """``/segmind/finetune/request/details``-style template of the route that handled it."""
    route = scope.get("route")
    route_path = getattr(route, "path", None)
    if route is None or route_path is None:
        return None
    return f"{scope.get('root_path', '')}{route_path}"


def json_error_renderer(bodies: Mapping[str, Callable[[int, str, str], Any]]) -> ErrorRenderer:
    """An ``ErrorRenderer`` choosing the error shape by the mount prefix the path falls under."""
    prefixes = sorted(bodies, key=len, reverse=True)

    def render(path: str, status: int, message: str, code: str) -> tuple[bytes, str]:
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return json.dumps(
                    bodies[prefix](status, message, code)
                ).encode(), "application/json"
        return json.dumps({"message": message}).encode(), "application/json"

    return render
