"""The control API under ``/_sandbox/``: what tests and demos use to drive the sandbox.

Plain JSON in and out, no authentication (the sandbox listens on localhost), never faulted.
Errors answer ``{"error": "<what is wrong and what to send instead>"}``.

    GET    /_sandbox/                                 providers, their object kinds, the clock
    POST   /_sandbox/reset            {"provider"?}   forget state (one provider or all) and faults
    GET    /_sandbox/clock                            simulated time, speed
    POST   /_sandbox/clock/advance    {"seconds"}     move simulated (and URL-expiry) time forward
    PUT    /_sandbox/clock            {"speed"}       change the speed from now on
    GET    /_sandbox/faults                           active fault rules
    POST   /_sandbox/faults           {rule}          add a rule (see faults.py) -> 201 the rule
    DELETE /_sandbox/faults[?provider=]               remove all rules (of one provider)
    DELETE /_sandbox/faults/{id}                      remove one rule
    GET    /_sandbox/latencies                        each settable latency: seconds, default
    PUT    /_sandbox/latencies {"cohere.datasets": 4}  set latencies (simulated seconds)
    GET    /_sandbox/requests                         {"total", "counts": {"METHOD route": n}}
    GET    /_sandbox/requests/log[?limit=]            the most recent requests
    DELETE /_sandbox/requests                         reset the counters and log
    POST   /_sandbox/{provider}/seed  {"count", "options"?}   bulk-create existing jobs
    GET    /_sandbox/{provider}/{kind}/{id}           the stored row and its lifecycle state
    PATCH  /_sandbox/{provider}/{kind}/{id} {"fields": {...}}   change it out of band
    POST   /_sandbox/{provider}/{kind}/{id}/advance {"seconds"} or {"to": STATUS}
    POST   /_sandbox/{provider}/{kind}/{id}/fail {"message", "in_seconds"?}

Provider-specific routes (``Provider.control_routes``) are served under ``/_sandbox/{provider}/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.clock import iso_micro
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.faults import FaultSpecError
from reconcile_sandbox.latencies import LatencyError
from reconcile_sandbox.lifecycle import JobState
from reconcile_sandbox.provider import ObjectKind
from reconcile_sandbox.variants import VariantError

if TYPE_CHECKING:
    from reconcile_sandbox.app import Sandbox


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def control_app(sandbox: Sandbox) -> Starlette:
    """The Starlette app mounted at ``/_sandbox``."""
    routes: list[BaseRoute] = [
        Route("/", _info(sandbox), methods=["GET"]),
        Route("/reset", _reset(sandbox), methods=["POST"]),
        Route("/clock", _clock(sandbox), methods=["GET", "PUT"]),
        Route("/clock/advance", _advance_clock(sandbox), methods=["POST"]),
        Route("/faults", _faults(sandbox), methods=["GET", "POST", "DELETE"]),
        Route("/faults/{rule_id:int}", _remove_fault(sandbox), methods=["DELETE"]),
        Route("/requests", _requests(sandbox), methods=["GET", "DELETE"]),
        Route("/requests/log", _request_log(sandbox), methods=["GET"]),
        Route("/variants", _variants(sandbox), methods=["GET", "PUT"]),
        Route("/latencies", _latencies(sandbox), methods=["GET", "PUT"]),
    ]
    for name, context in sandbox.contexts.items():
        if context.provider.control_routes is None:
            continue
        for route in context.provider.control_routes(context):
            if not isinstance(route, Route):
                raise TypeError(f"{name}: control_routes must return starlette Route objects")
            routes.append(Route(f"/{name}{route.path}", route.endpoint, methods=route.methods))
    routes += [
        Route("/{provider}/seed", _seed(sandbox), methods=["POST"]),
        Route("/{provider}/{kind}/{object_id}", _object(sandbox), methods=["GET", "PATCH"]),
        Route("/{provider}/{kind}/{object_id}/advance", _advance_object(sandbox), methods=["POST"]),
        Route("/{provider}/{kind}/{object_id}/fail", _fail_object(sandbox), methods=["POST"]),
    ]

    async def control_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ControlError)
        return JSONResponse({"error": error.message}, status_code=error.status)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return JSONResponse(
            {"error": f"{error.detail}: {request.method} {request.url.path}"},
            status_code=error.status_code,
        )

    async def unexpected_error(request: Request, error: Exception) -> Response:
        return JSONResponse(
            {"error": f"internal error in the sandbox: {type(error).__name__}: {error}"},
            status_code=500,
        )

    return Starlette(
        routes=routes,
        exception_handlers={
            ControlError: control_error,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
    )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ControlError(400, f"the body is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise ControlError(400, "the body must be a JSON object")
    return value


def _number(body: dict[str, Any], name: str, *, minimum: float = 0.0) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ControlError(400, f"'{name}' must be a number of at least {minimum}; got {value!r}")
    return float(value)


def _context(sandbox: Sandbox, name: str) -> SandboxContext:
    context = sandbox.contexts.get(name)
    if context is None:
        known = ", ".join(sorted(sandbox.contexts))
        raise ControlError(404, f"no provider {name!r}; this sandbox serves: {known}")
    return context


def _kind(context: SandboxContext, name: str) -> ObjectKind:
    kind = context.provider.kinds.get(name)
    if kind is None:
        known = ", ".join(sorted(context.provider.kinds)) or "none"
        raise ControlError(
            404, f"{context.provider.name} has no object kind {name!r}; known kinds: {known}"
        )
    return kind


def _clock_json(sandbox: Sandbox) -> dict[str, Any]:
    now = sandbox.clock.now()
    return {"now": now, "now_iso": iso_micro(now), "speed": sandbox.clock.speed}


def _info(sandbox: Sandbox) -> Handler:
    async def info(request: Request) -> Response:
        providers = {
            name: {
                "mount": provider.mount,
                "kinds": {
                    kind_name: {
                        "table": kind.table,
                        "statuses": list(kind.lifecycle.statuses) if kind.lifecycle else None,
                    }
                    for kind_name, kind in provider.kinds.items()
                },
                "seedable": provider.seed is not None,
            }
            for name, provider in sandbox.providers.items()
        }
        return JSONResponse({"providers": providers, "clock": _clock_json(sandbox)})

    return info


def _reset(sandbox: Sandbox) -> Handler:
    async def reset(request: Request) -> Response:
        body = await _body(request)
        provider = body.get("provider")
        if provider is not None:
            _context(sandbox, str(provider))
        sandbox.reset(provider)
        return JSONResponse({"reset": provider or "all"})

    return reset


def _variants(sandbox: Sandbox) -> Handler:
    async def variants(request: Request) -> Response:
        if request.method == "PUT":
            body = await _body(request)
            for key, value in body.items():
                if not isinstance(value, str):
                    raise ControlError(400, f"{key}: a variant's value is a string; got {value!r}")
            try:
                sandbox.variants.set(body)
            except VariantError as error:
                raise ControlError(400, str(error)) from error
        return JSONResponse({"variants": sandbox.variants.describe()})

    return variants


def _latencies(sandbox: Sandbox) -> Handler:
    async def latencies(request: Request) -> Response:
        if request.method == "PUT":
            try:
                sandbox.latencies.set(await _body(request))
            except LatencyError as error:
                raise ControlError(400, str(error)) from error
        return JSONResponse({"latencies": sandbox.latencies.describe()})

    return latencies


def _clock(sandbox: Sandbox) -> Handler:
    async def clock(request: Request) -> Response:
        if request.method == "PUT":
            body = await _body(request)
            sandbox.clock.set_speed(_number(body, "speed"))
        return JSONResponse(_clock_json(sandbox))

    return clock


def _advance_clock(sandbox: Sandbox) -> Handler:
    async def advance(request: Request) -> Response:
        body = await _body(request)
        sandbox.clock.advance(_number(body, "seconds"))
        return JSONResponse(_clock_json(sandbox))

    return advance


def _faults(sandbox: Sandbox) -> Handler:
    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                rule = sandbox.faults.add(await _body(request))
            except FaultSpecError as error:
                raise ControlError(400, str(error)) from error
            return JSONResponse(rule.to_json(), status_code=201)
        if request.method == "DELETE":
            sandbox.faults.clear(request.query_params.get("provider"))
        return JSONResponse({"faults": [rule.to_json() for rule in sandbox.faults.rules()]})

    return faults


def _remove_fault(sandbox: Sandbox) -> Handler:
    async def remove(request: Request) -> Response:
        rule_id = request.path_params["rule_id"]
        if not sandbox.faults.remove(rule_id):
            raise ControlError(404, f"no fault rule {rule_id}")
        return JSONResponse({"removed": rule_id})

    return remove


def _requests(sandbox: Sandbox) -> Handler:
    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.requests.clear()
        return JSONResponse(
            {"total": sandbox.requests.total(), "counts": sandbox.requests.counts()}
        )

    return requests


def _request_log(sandbox: Sandbox) -> Handler:
    async def log(request: Request) -> Response:
        limit_text = request.query_params.get("limit", "100")
        if not limit_text.isdigit():
            raise ControlError(400, f"'limit' must be a whole number; got {limit_text!r}")
        entries = sandbox.requests.entries(int(limit_text))
        return JSONResponse({"requests": [entry.to_json() for entry in entries]})

    return log


def _seed(sandbox: Sandbox) -> Handler:
    async def seed(request: Request) -> Response:
        context = _context(sandbox, request.path_params["provider"])
        if context.provider.seed is None:
            raise ControlError(400, f"{context.provider.name} does not support seeding")
        body = await _body(request)
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 1_000_000:
            raise ControlError(
                400, f"'count' must be a whole number from 1 to 1000000; got {count!r}"
            )
        options = body.get("options", {})
        if not isinstance(options, dict):
            raise ControlError(400, "'options' must be a JSON object")
        started = time.perf_counter()
        try:
            seeded = context.provider.seed(context, count, options)
        except ValueError as error:
            raise ControlError(400, str(error)) from error
        return JSONResponse({"seeded": seeded, "seconds": round(time.perf_counter() - started, 4)})

    return seed


def _load(context: SandboxContext, kind: ObjectKind, object_id: str) -> dict[str, Any]:
    row = context.store.query_one(
        f'SELECT * FROM "{kind.table}" WHERE "{kind.id_column}" = ?',  # noqa: S608 (registry names)
        (object_id,),
    )
    if row is None:
        raise ControlError(
            404, f"{context.provider.name} has no {kind.table} row with id {object_id!r}"
        )
    return {
        key: (f"<{len(value)} bytes>" if isinstance(value, bytes) else value)
        for key, value in dict(row).items()
    }


def _state_json(state: JobState) -> dict[str, Any]:
    return {
        "status": state.status,
        "error_message": state.error_message,
        "since": state.since,
        "terminal": state.terminal,
        "history": [{"status": status, "at": at} for status, at in state.history],
    }


def _object_json(context: SandboxContext, kind: ObjectKind, row: dict[str, Any]) -> dict[str, Any]:
    state = kind.lifecycle.state(row, context.now()) if kind.lifecycle else None
    return {"row": row, "state": _state_json(state) if state else None}


def _object(sandbox: Sandbox) -> Handler:
    async def object_view(request: Request) -> Response:
        context = _context(sandbox, request.path_params["provider"])
        kind = _kind(context, request.path_params["kind"])
        object_id = request.path_params["object_id"]
        _load(context, kind, object_id)
        if request.method == "PATCH":
            fields = (await _body(request)).get("fields")
            if not isinstance(fields, dict) or not fields:
                raise ControlError(400, 'send {"fields": {"column": value, ...}}')
            _set_fields(context, kind, object_id, fields)
        return JSONResponse(_object_json(context, kind, _load(context, kind, object_id)))

    return object_view


def _set_fields(
    context: SandboxContext, kind: ObjectKind, object_id: str, fields: dict[str, Any]
) -> None:
    columns = context.store.table_columns(kind.table)
    unknown = sorted(set(fields) - set(columns))
    if unknown:
        raise ControlError(
            400, f"unknown column(s) {', '.join(unknown)}; {kind.table} has: {', '.join(columns)}"
        )
    if kind.id_column in fields:
        raise ControlError(400, f"the id column {kind.id_column!r} cannot be changed")
    values = {name: _sql_value(value) for name, value in fields.items()}
    if "updated_sim" in columns and "updated_sim" not in values:
        values["updated_sim"] = context.now()
    assignments = ", ".join(f'"{name}" = ?' for name in values)
    context.store.execute(
        f'UPDATE "{kind.table}" SET {assignments} WHERE "{kind.id_column}" = ?',  # noqa: S608
        [*values.values(), object_id],
    )


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _lifecycle_kind(context: SandboxContext, name: str) -> ObjectKind:
    kind = _kind(context, name)
    if kind.lifecycle is None:
        raise ControlError(
            400, f"{context.provider.name} {name} have no lifecycle to advance or fail"
        )
    return kind


def _advance_object(sandbox: Sandbox) -> Handler:
    async def advance(request: Request) -> Response:
        context = _context(sandbox, request.path_params["provider"])
        kind = _lifecycle_kind(context, request.path_params["kind"])
        assert kind.lifecycle is not None
        object_id = request.path_params["object_id"]
        row = _load(context, kind, object_id)
        body = await _body(request)
        if "to" in body:
            try:
                needed_age = kind.lifecycle.offset_to_reach(str(body["to"]))
            except ValueError as error:
                raise ControlError(400, str(error)) from error
            age = context.now() - float(row["created_sim"])
            offset = max(float(row["progress_offset"]), needed_age - age)
        else:
            offset = float(row["progress_offset"]) + _number(body, "seconds")
        context.store.execute(
            f'UPDATE "{kind.table}" SET progress_offset = ? WHERE "{kind.id_column}" = ?',  # noqa: S608
            (offset, object_id),
        )
        return JSONResponse(_object_json(context, kind, _load(context, kind, object_id)))

    return advance


def _fail_object(sandbox: Sandbox) -> Handler:
    async def fail(request: Request) -> Response:
        context = _context(sandbox, request.path_params["provider"])
        kind = _lifecycle_kind(context, request.path_params["kind"])
        object_id = request.path_params["object_id"]
        row = _load(context, kind, object_id)
        body = await _body(request)
        message = body.get("message")
        if not isinstance(message, str) or not message:
            raise ControlError(400, "'message' (the error message the job shows) is required")
        delay = _number(body, "in_seconds") if "in_seconds" in body else 0.0
        now = context.now()
        context.store.execute(
            f'UPDATE "{kind.table}" SET failed_sim = ?, error_message = ?, updated_sim = ? '  # noqa: S608
            f'WHERE "{kind.id_column}" = ?',
            (now + float(row["progress_offset"]) + delay, message, now, object_id),
        )
        return JSONResponse(_object_json(context, kind, _load(context, kind, object_id)))

    return fail
