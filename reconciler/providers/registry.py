"""Building the provider adapters from ``Settings``: the one place that knows every adapter.

``build_client(provider, settings)`` returns the ``ProviderClient`` of one provider (which
``reconciler.providers.clients`` keeps and closes). Every key in the settings is registered
with ``reconciler.redact`` first, so no message or log line of the process can show it even
if a provider echoes it back. Tests pass an httpx ``transport`` and a faster ``RetryPolicy``.

The adapter modules import httpx and tenacity; they are imported here only when a client is
built, so commands that never talk to a provider do not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_never

from reconciler.config import DEFAULT_REQUEST_TIMEOUT, Settings
from reconciler.core.spec import Provider
from reconciler.redact import register_secret

if TYPE_CHECKING:
    import httpx

    from reconciler.providers.base import ProviderClient
    from reconciler.providers.http import RetryPolicy


def register_settings_secrets(settings: Settings) -> None:
    """Make every credential in ``settings`` known to the redaction of the whole process."""
    for provider_settings in settings.providers.values():
        keys = (provider_settings.api_key, *provider_settings.service_keys.values())
        for key in keys:
            if key is not None:
                register_secret(key.reveal())


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
    own = settings.providers[provider]
    match provider:
        case "segmind":
            from reconciler.providers.segmind.adapter import SegmindClient

            return SegmindClient(own, **common)
        case "qubrid":
            from reconciler.providers.qubrid.adapter import QubridClient

            return QubridClient(own, **common)
        case "cohere":
            from reconciler.providers.cohere.adapter import CohereClient

            return CohereClient(own, **common)
        case _:
            assert_never(provider)
