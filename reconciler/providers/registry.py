"""Building the provider adapters from ``Settings``: the one place that knows all three.

``build_client(provider, settings)`` returns the ``ProviderClient`` of one provider and
``build_clients(settings)`` one per provider, keyed by name. Every key in the settings is
registered with ``reconciler.redact`` first, so no message or log line of the process can
show it even if a provider echoes it back. Tests pass an httpx ``transport`` and a
faster ``RetryPolicy``.

The adapter modules import httpx and tenacity; they are imported here only when a client is
built, so commands that never talk to a provider do not pay for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reconciler.config import DEFAULT_REQUEST_TIMEOUT, Settings
from reconciler.model import PROVIDERS, Provider
from reconciler.redact import register_secret

if TYPE_CHECKING:
    import httpx

    from reconciler.providers.base import ProviderClient
    from reconciler.providers.http import RetryPolicy


def register_settings_secrets(settings: Settings) -> None:
    """Make every credential in ``settings`` known to the redaction of the whole process."""
    for provider in PROVIDERS:
        key = settings.provider(provider).api_key
        if key is not None:
            register_secret(key.reveal())
    if settings.cohere.wandb_api_key is not None:
        register_secret(settings.cohere.wandb_api_key.reveal())


def build_client(
    provider: Provider,
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: httpx.Timeout | None = None,
) -> ProviderClient:
    """The adapter for ``provider``, aimed at its base URL with its key (``timeout``: the API
    requests', instead of the default; ``retry``: the policy, instead of the settings'
    ``retry_wait`` with the default's bounds)."""
    register_settings_secrets(settings)
    # The adapters' shared HTTP module, imported with them: only once a client is built.
    from reconciler.providers.http import RetryPolicy, timeout_reading_for

    if timeout is None and settings.request_timeout != DEFAULT_REQUEST_TIMEOUT:
        timeout = timeout_reading_for(settings.request_timeout)
    # What every adapter takes besides its own section of the settings.
    common: dict[str, Any] = {
        "transport": transport,
        "retry": retry or RetryPolicy(initial_wait=settings.retry_wait),
        "timeout": timeout,
        "list_timeout": settings.list_timeout,
    }
    if provider == "segmind":
        from reconciler.providers.segmind import SegmindClient

        return SegmindClient(settings.segmind, **common)
    if provider == "qubrid":
        from reconciler.providers.qubrid import QubridClient

        return QubridClient(settings.qubrid, **common)
    from reconciler.providers.cohere import CohereClient

    return CohereClient(settings.cohere, **common)


def build_clients(
    settings: Settings,
    providers: Iterable[Provider] = PROVIDERS,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> dict[Provider, ProviderClient]:
    """One adapter per provider in ``providers`` (all three by default). Close them with
    ``close_clients`` (or each ``.close()``) when done."""
    return {
        provider: build_client(provider, settings, transport=transport, retry=retry)
        for provider in providers
    }


def close_clients(clients: dict[Provider, ProviderClient]) -> None:
    for client in clients.values():
        client.close()
