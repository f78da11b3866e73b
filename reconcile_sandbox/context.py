"""The context handed to a provider's route factory: state, clock, objects, faults, helpers.

One ``SandboxContext`` exists per mounted provider. Route handlers close over it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from reconcile_sandbox.clock import SimClock
from reconcile_sandbox.faults import FaultBook
from reconcile_sandbox.latencies import LatencyBook
from reconcile_sandbox.lifecycle import JobState
from reconcile_sandbox.objects import ObjectStore
from reconcile_sandbox.provider import Provider, ProviderError
from reconcile_sandbox.store import Store
from reconcile_sandbox.variants import VariantBook


@dataclass(frozen=True)
class SandboxContext:
    """Everything a provider emulator needs; see ``docs/sandbox.md`` for a walk-through."""

    provider: Provider
    store: Store
    clock: SimClock
    objects: ObjectStore
    faults: FaultBook
    api_key: str
    """The key this provider accepts (checked before any route runs)."""
    variants: VariantBook
    """Which reading of each open question the sandbox takes now (``variant``)."""
    latencies: LatencyBook
    """How long each kind that settles by itself takes now (``latencies.py``)."""

    def variant(self, name: str) -> str:
        """The current value of this provider's variant ``name`` (``Provider.variants``)."""
        return self.variants.value(f"{self.provider.name}.{name}")

    def now(self) -> float:
        """Simulated time (seconds since the epoch): creation, progress and shown timestamps."""
        return self.clock.now()

    def error(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        """An error response in this provider's own body shape."""
        return JSONResponse(
            self.provider.error_body(status, message, code),
            status_code=status,
            headers=dict(headers or {}),
        )

    def state(self, kind: str, row: sqlite3.Row | Mapping[str, Any]) -> JobState:
        """The lifecycle state of ``row`` (of the object kind ``kind``) right now."""
        lifecycle = self.provider.kinds[kind].lifecycle
        if lifecycle is None:
            raise ValueError(f"object kind {kind!r} of {self.provider.name} has no lifecycle")
        lifecycle = self.latencies.lifecycle(f"{self.provider.name}.{kind}", lifecycle)
        return lifecycle.state(row, self.now())

    def list_lag_cutoff(self, request: Request) -> float | None:
        """For list handlers: hide rows created or changed after this simulated time.

        ``None`` when no ``list_lag`` fault applies to the request (show everything). Use it as
        ``WHERE updated_sim <= ?`` (``updated_sim`` is set at creation and on every change).
        """
        lag = self.faults.list_lag(request.method, request.url.path)
        return None if lag is None else self.now() - lag

    @staticmethod
    def origin(request: Request) -> str:
        """``scheme://host:port`` the client used; URLs the sandbox hands out start with it."""
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return f"{request.url.scheme}://{host}"

    @staticmethod
    async def json_object(request: Request) -> dict[str, Any]:
        """The request body as a JSON object, or a 400 ``ProviderError`` saying what is wrong.

        Works for GET too: Segmind sends JSON bodies on GET.
        """
        raw = await request.body()
        if not raw.strip():
            raise ProviderError(400, "The request needs a JSON body.", "BAD_REQUEST")
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProviderError(
                400, f"The request body is not valid JSON: {error}", "BAD_REQUEST"
            ) from error
        if not isinstance(value, dict):
            raise ProviderError(400, "The request body must be a JSON object.", "BAD_REQUEST")
        return value
