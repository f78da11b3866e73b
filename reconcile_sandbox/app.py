"""The sandbox ASGI app: the provider registry, and the wiring of state, clock, faults and routes.

``PROVIDER_MODULES`` is the registry: each listed module exposes ``PROVIDER`` (a
``reconcile_sandbox.provider.Provider``). Adding a provider is one line there.

Layout of the app (all on one port):

    /segmind/...          Segmind (``segmind/api.py``)
    /qubrid/api/v1/...    Qubrid (``qubrid/api.py``)
    /cohere/...           Cohere (``cohere/api.py``)
    /_objects/...         the pre-signed object store (``objects.py``)
    /_sandbox/...         the control API (``control.py``), never faulted or authenticated
"""

from __future__ import annotations

import hmac
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from reconcile_sandbox.clock import SimClock
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.faults import FaultBook, FaultMiddleware, json_error_renderer
from reconcile_sandbox.latencies import LatencyBook
from reconcile_sandbox.objects import DEFAULT_MAX_UPLOAD_BYTES, ObjectStore
from reconcile_sandbox.provider import Provider, ProviderError
from reconcile_sandbox.requestlog import RequestLog
from reconcile_sandbox.store import Store
from reconcile_sandbox.variants import VariantBook

PROVIDER_MODULES: tuple[str, ...] = (
    "reconcile_sandbox.segmind.api",
    "reconcile_sandbox.qubrid.api",
    "reconcile_sandbox.cohere.api",
)
"""The emulated providers, in mount order: one module path per provider, one per line."""

CONTROL_MOUNT = "/_sandbox"


@dataclass(frozen=True)
class SandboxConfig:
    """How to run a sandbox."""

    data_dir: Path | None = None
    """Folder of the SQLite state; ``None`` keeps everything in memory (tests)."""
    speed: float = 1.0
    """Simulated seconds per real second (0 freezes time except explicit advances)."""
    keys: Mapping[str, str] = field(default_factory=dict)
    """API key per provider name; a provider not listed accepts its ``auth.default_key``."""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    variants: Mapping[str, str] = field(default_factory=dict)
    """Variants to start with, ``provider.name`` -> value (``variants.py``); the rest default."""
    latencies: Mapping[str, float] = field(default_factory=dict)
    """Latencies to start with, ``provider.kind`` -> simulated seconds (``latencies.py``), e.g.
    ``{"cohere.datasets": 4}``; the rest take their lifecycle's own."""


def load_providers(modules: Sequence[str] | None = None) -> list[Provider]:
    """Import the registered provider modules and collect their ``PROVIDER`` values."""
    providers: list[Provider] = []
    for module_name in PROVIDER_MODULES if modules is None else modules:
        provider = importlib.import_module(module_name).PROVIDER
        if not isinstance(provider, Provider):
            raise TypeError(f"{module_name}.PROVIDER must be a reconcile_sandbox.provider.Provider")
        providers.append(provider)
    return providers


class Sandbox:
    """A configured sandbox: its state and the ASGI app serving it (``.asgi``)."""

    def __init__(self, config: SandboxConfig, providers: Sequence[Provider] | None = None) -> None:
        self.config = config
        self.providers: dict[str, Provider] = {
            provider.name: provider
            for provider in (load_providers() if providers is None else providers)
        }
        self.store = (
            Store.in_folder(config.data_dir) if config.data_dir is not None else Store(None)
        )
        self.clock = SimClock(config.speed, persistence=self.store)
        self.objects = ObjectStore(self.store, self.clock, config.max_upload_bytes)
        self.faults = FaultBook({name: p.mount for name, p in self.providers.items()})
        self.requests = RequestLog()
        self.variants = VariantBook(list(self.providers.values()), config.variants)
        self.latencies = LatencyBook(list(self.providers.values()), config.latencies)
        self.contexts: dict[str, SandboxContext] = {}
        for provider in self.providers.values():
            self.store.apply_schema(provider.schema)
            for bucket in provider.buckets:
                self.objects.claim_bucket(bucket, provider.name)
            self.contexts[provider.name] = SandboxContext(
                provider=provider,
                store=self.store,
                clock=self.clock,
                objects=self.objects,
                faults=self.faults,
                api_key=self.key(provider.name),
                variants=self.variants,
                latencies=self.latencies,
            )
        self.asgi: ASGIApp = self._build_app()
        self._closed = False

    def key(self, provider: str) -> str:
        """The API key ``provider`` accepts."""
        return self.config.keys.get(provider, self.providers[provider].auth.default_key)

    @property
    def keys(self) -> dict[str, str]:
        return {name: self.key(name) for name in self.providers}

    def reset(self, provider: str | None = None) -> None:
        """Forget every job, dataset and object (of one provider, or of all), and all faults;
        variants and latencies go back to where the sandbox started.

        The clock is not rewound: simulated time only moves forward.
        """
        names = [provider] if provider is not None else list(self.providers)
        for name in names:
            for table in self.store.tables_with_prefix(f"{name}_"):
                self.store.execute(f'DELETE FROM "{table}"')  # noqa: S608 (names from sqlite_master)
            self.objects.delete_owned_by(name)
        if provider is None:
            self.objects.delete_owned_by(None)
            self.requests.clear()
        self.faults.clear(provider)
        self.variants.reset(provider)
        self.latencies.reset(provider)

    def close(self) -> None:
        """Save the clock's reading and close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.clock.save()
        self.store.close()

    def _build_app(self) -> ASGIApp:
        # Imported here: control routes need the whole Sandbox, which needs this module.
        from reconcile_sandbox.control import control_app

        routes: list[BaseRoute] = [
            Mount(provider.mount, app=_provider_app(self.contexts[provider.name]))
            for provider in self.providers.values()
        ]
        routes.extend(self.objects.routes())
        routes.append(Mount(CONTROL_MOUNT, app=control_app(self)))
        app = Starlette(routes=routes)
        renderer = json_error_renderer({p.mount: p.error_body for p in self.providers.values()})
        return FaultMiddleware(app, self.faults, self.requests, renderer, CONTROL_MOUNT)


def create_app(config: SandboxConfig, providers: Sequence[Provider] | None = None) -> Sandbox:
    """Build a sandbox for ``config``; serve ``.asgi`` with any ASGI server (``server.py``)."""
    return Sandbox(config, providers)


def _provider_app(context: SandboxContext) -> ASGIApp:
    """One provider's routes behind its API-key check, answering errors in its own shape."""
    provider = context.provider

    async def provider_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ProviderError)
        return context.error(error.status, error.message, error.code, error.headers)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code)
        message = {
            404: f"No such endpoint: {request.method} {request.url.path}",
            405: f"Method {request.method} is not allowed on {request.url.path}",
        }.get(error.status_code, str(error.detail))
        return context.error(error.status_code, message, code, error.headers)

    async def unexpected_error(request: Request, error: Exception) -> Response:
        return context.error(
            500, f"Internal error in the sandbox: {type(error).__name__}", "INTERNAL"
        )

    inner = Starlette(
        routes=list(provider.routes(context)),
        exception_handlers={
            ProviderError: provider_error,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
    )
    return _ApiKeyCheck(inner, context)


class _ApiKeyCheck:
    """Refuses requests without the provider's key, in the provider's 401 shape."""

    def __init__(self, app: ASGIApp, context: SandboxContext) -> None:
        self.app = app
        self.context = context
        auth = context.provider.auth
        self._header = (
            (auth.header if auth.scheme == "header" else "authorization").lower().encode()
        )
        expected = context.api_key if auth.scheme == "header" else f"Bearer {context.api_key}"
        self._expected = expected.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_public(scope):
            await self.app(scope, receive, send)
            return
        supplied = [value for name, value in scope["headers"] if name == self._header]
        if supplied and _same_key(supplied[0], self._expected):
            await self.app(scope, receive, send)
            return
        auth = self.context.provider.auth
        body = self.context.provider.error_body(
            401, auth.unauthorized_message, auth.unauthorized_code
        )
        response = JSONResponse(body, status_code=401)
        await _drain(receive)
        await response(scope, receive, send)

    def _is_public(self, scope: Scope) -> bool:
        relative = scope["path"][len(self.context.provider.mount) :]
        return relative in self.context.provider.public_paths


def _same_key(supplied: bytes, expected: bytes) -> bool:
    # Bearer is case-insensitive as an auth scheme; the key itself is compared exactly.
    if supplied[:7].lower() == b"bearer " and expected[:7] == b"Bearer ":
        supplied = b"Bearer " + supplied[7:].strip()
    return hmac.compare_digest(supplied, expected)


async def _drain(receive: Receive) -> None:
    """Consume the request body so a keep-alive client can read the 401 cleanly."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
