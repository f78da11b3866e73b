"""Fixtures for the sandbox tests: the real sandbox, and a toy provider to test the framework.

``sandbox`` / ``sandbox_server`` come from the sandbox's pytest plugin,
``reconcile_sandbox.pytest_plugin``, which its distribution registers with pytest (every
registered provider, in memory, speed 0, reset before each test). ``toy_sandbox`` serves only
the toy provider below, which exercises the framework without depending on any real API.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.lifecycle import LIFECYCLE_COLUMNS, Lifecycle, Stage
from reconcile_sandbox.provider import ApiKeyAuth, ObjectKind, Provider, ProviderError
from reconcile_sandbox.testing import RunningSandbox, start_sandbox

TOY_LIFECYCLE = Lifecycle(
    stages=(Stage("queued", 10.0), Stage("running", 20.0)), done="done", failed="failed"
)


def _toy_routes(ctx: SandboxContext) -> list[BaseRoute]:
    def render(row: sqlite3.Row) -> dict[str, Any]:
        state = ctx.state("items", row)
        return {
            "id": row["id"],
            "name": row["name"],
            "status": state.status,
            "error": state.error_message,
            "tags": json.loads(row["tags"]),
        }

    async def create(request: Request) -> Response:
        body = await ctx.json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ProviderError(400, "'name' is required", "invalid_request")
        now = ctx.now()
        item_id = str(uuid.uuid4())
        ctx.store.execute(
            "INSERT INTO toy_items (id, name, tags, created_sim, updated_sim) "
            "VALUES (?, ?, ?, ?, ?)",
            (item_id, name, json.dumps(body.get("tags", [])), now, now),
        )
        row = ctx.store.query_one("SELECT * FROM toy_items WHERE id = ?", (item_id,))
        assert row is not None
        return JSONResponse(render(row), status_code=201)

    async def list_items(request: Request) -> Response:
        cutoff = ctx.list_lag_cutoff(request)
        if cutoff is None:
            rows = ctx.store.query("SELECT * FROM toy_items ORDER BY created_sim, id")
            if ctx.variant("order") == "newest-first":
                rows = list(reversed(rows))
        else:
            rows = ctx.store.query(
                "SELECT * FROM toy_items WHERE updated_sim <= ? ORDER BY created_sim, id", (cutoff,)
            )
        return JSONResponse({"items": [render(row) for row in rows]})

    async def get_item(request: Request) -> Response:
        row = ctx.store.query_one(
            "SELECT * FROM toy_items WHERE id = ?", (request.path_params["item_id"],)
        )
        if row is None:
            return ctx.error(404, "no such item", "not_found")
        return JSONResponse(render(row))

    return [
        Route("/items", create, methods=["POST"]),
        Route("/items", list_items, methods=["GET"]),
        Route("/items/{item_id}", get_item, methods=["GET"]),
    ]


def _toy_seed(ctx: SandboxContext, count: int, options: Mapping[str, Any]) -> int:
    now = ctx.now()
    age = float(options.get("age_seconds", 3600.0))
    ctx.store.executemany(
        "INSERT INTO toy_items (id, name, tags, created_sim, updated_sim) VALUES (?, ?, ?, ?, ?)",
        ((f"seed-{i}", f"seeded-{i}", "[]", now - age, now - age) for i in range(count)),
    )
    return count


TOY = Provider(
    name="toy",
    mount="/toy/api",
    auth=ApiKeyAuth(scheme="bearer", default_key="sandbox-toy-key"),
    error_body=lambda status, message, code: {"message": message, "code": code},
    schema=f"CREATE TABLE IF NOT EXISTS toy_items (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    f"tags TEXT NOT NULL, {LIFECYCLE_COLUMNS});",
    routes=_toy_routes,
    kinds={"items": ObjectKind(table="toy_items", lifecycle=TOY_LIFECYCLE)},
    seed=_toy_seed,
    base_url_env=("TOY_BASE_URL",),
    api_key_env=("TOY_API_KEY",),
    variants={"order": ("oldest-first", "newest-first")},
)


@pytest.fixture
def toy_provider() -> Provider:
    """The toy provider itself, for tests that build their own sandbox (no import of conftest)."""
    return TOY


@pytest.fixture(scope="session")
def toy_server() -> Iterator[RunningSandbox]:
    with start_sandbox(providers=[TOY]) as running:
        yield running


@pytest.fixture
def toy_sandbox(toy_server: RunningSandbox) -> RunningSandbox:
    toy_server.control.reset()
    toy_server.control.set_speed(0.0)
    return toy_server
