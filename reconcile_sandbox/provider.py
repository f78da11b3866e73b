"""What a provider module hands the sandbox: one ``Provider`` value describing its emulator.

A provider module (``segmind/api.py``, ``qubrid/api.py``, ``cohere/api.py``) exposes
``PROVIDER``; ``app.py`` lists those modules in its registry and mounts each one. Everything
provider-specific (mount path, auth header, error body shape, SQL schema, routes, lifecycle
tables, seeding) is here, so the framework never names a provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starlette.routing import BaseRoute

from reconcile_sandbox.lifecycle import Lifecycle

if TYPE_CHECKING:
    from reconcile_sandbox.context import SandboxContext


@dataclass(frozen=True)
class ApiKeyAuth:
    """How the provider reads its API key.

    ``scheme="header"`` reads the raw key from ``header`` (Segmind's ``x-api-key``);
    ``scheme="bearer"`` reads ``Authorization: Bearer <key>``.
    """

    scheme: Literal["header", "bearer"]
    default_key: str
    header: str = "authorization"
    unauthorized_message: str = "Unauthorized: missing or invalid API key"
    unauthorized_code: str = "UNAUTHORIZED"


@dataclass(frozen=True)
class ObjectKind:
    """A table the control API may inspect, change, advance and fail.

    Reached at ``/_sandbox/{provider}/{kind}/{id}``.

    With a ``lifecycle``, the table carries ``LIFECYCLE_COLUMNS`` and rows walk its stages.
    ``settles``: the stages are a wait before the object can be used (a dataset's validation),
    whose length a test may set (``latencies.py``), rather than a job's work.
    """

    table: str
    lifecycle: Lifecycle | None = None
    id_column: str = "id"
    settles: bool = False


class ProviderError(Exception):
    """Raised by a provider route: answered as ``status`` in the provider's own error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


ErrorBody = Callable[[int, str, str | None], Any]
"""(status, message, code or None) -> the JSON body the provider answers errors with."""

RoutesFactory = Callable[["SandboxContext"], Sequence[BaseRoute]]

SeedFunction = Callable[["SandboxContext", int, Mapping[str, Any]], int]
"""(context, count, options) -> number of rows inserted. Must use ``store.executemany``."""


@dataclass(frozen=True)
class Provider:
    """One emulated provider API."""

    name: str
    """Lower-case id used in control URLs and keys: ``segmind``, ``qubrid``, ``cohere``."""
    mount: str
    """Path prefix of the API on the sandbox, e.g. ``/segmind`` or ``/qubrid/api/v1``."""
    auth: ApiKeyAuth
    error_body: ErrorBody
    schema: str
    """``CREATE TABLE IF NOT EXISTS`` script; every table name starts with ``{name}_``."""
    routes: RoutesFactory
    kinds: Mapping[str, ObjectKind] = field(default_factory=dict)
    seed: SeedFunction | None = None
    control_routes: RoutesFactory | None = None
    """Extra provider-specific control routes, mounted under ``/_sandbox/{name}/``."""
    base_url_env: tuple[str, ...] = ()
    """Environment variables a client reads the base URL from (printed by ``serve_forever``)."""
    api_key_env: tuple[str, ...] = ()
    """Environment variables a client reads the API key from."""
    buckets: tuple[str, ...] = ()
    """Object-store buckets the provider's uploads and artifacts live in (reset with it)."""
    public_paths: tuple[str, ...] = ()
    """Paths under the mount that need no API key (none of the three providers has one)."""
    variants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Readings of the documents' open questions this emulator can take (``variants.py``):
    name -> its values, the first the default (the reading the client was written to)."""
