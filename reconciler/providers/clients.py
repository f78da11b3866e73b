"""The one lifecycle of provider clients: built for some settings, kept while they hold, closed.

Every command opens its clients here (``reconciler.run``): a command line run or an import
for as long as it lasts, the daemon for its whole life. Building a client costs far more than
a resync's list requests (a TLS context loads the system's CA certificates), and building
hundreds per hour churns memory the allocator never gives back; so a client is kept while its
provider's settings stay the same and built anew only when they change (``reconciler.yaml`` or
the environment edited), and its connection pool survives between the daemon's runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from reconciler.config import ProviderSettings, Settings
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient
from reconciler.providers.registry import build_client

ClientFactory = Callable[[Provider, Settings], ProviderClient]
"""Builds the client of one provider from the settings (``default_client_factory``)."""


def default_client_factory(provider: Provider, settings: Settings) -> ProviderClient:
    """The adapter of ``provider`` for ``settings`` (``registry.build_client``)."""
    return build_client(provider, settings)


class ClientPool:
    """At most one live client per provider, matching the latest settings; a context manager
    that closes them all."""

    def __init__(self, factory: ClientFactory = default_client_factory) -> None:
        self.factory = factory
        self._held: dict[Provider, tuple[ProviderSettings[Any], ProviderClient]] = {}

    def adopt(self, settings: Settings, built: Mapping[Provider, ProviderClient]) -> None:
        """Keep clients built elsewhere for ``settings`` (``observing.EarlyLists``), closing
        any held for the same providers."""
        for provider, client in built.items():
            held = self._held.pop(provider, None)
            if held is not None and held[1] is not client:
                held[1].close()
            self._held[provider] = (settings.providers[provider], client)

    def clients_for(
        self, settings: Settings, providers: Sequence[Provider]
    ) -> dict[Provider, ProviderClient]:
        """A client per provider in ``providers`` for ``settings``, in that order; clients of
        providers no longer needed, or built from other settings, are closed."""
        for provider in list(self._held):
            held_settings, client = self._held[provider]
            if provider not in providers or held_settings != settings.providers[provider]:
                client.close()
                del self._held[provider]
        for provider in providers:
            if provider not in self._held:
                self._held[provider] = (
                    settings.providers[provider],
                    self.factory(provider, settings),
                )
        return {provider: self._held[provider][1] for provider in providers}

    def close(self) -> None:
        for _, client in self._held.values():
            client.close()
        self._held.clear()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
