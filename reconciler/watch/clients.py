"""Provider clients kept from one run to the next.

Building a client costs far more than a resync's list requests (a TLS context loads the
system's CA certificates), and building hundreds per hour churns memory the allocator never
gives back. So the daemon keeps one client per provider and builds a new one only when that
provider's settings change (``reconciler.yaml`` or the environment edited); the connection
pool then also survives between runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.config import ProviderSettings, Settings
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient

ClientFactory = Callable[[Provider, Settings], ProviderClient]


class ClientPool:
    """At most one live client per provider, matching the latest settings."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._held: dict[Provider, tuple[ProviderSettings[Any], ProviderClient]] = {}

    def clients_for(
        self, settings: Settings, providers: Sequence[Provider]
    ) -> Mapping[Provider, ProviderClient]:
        """A client per provider in ``providers`` for ``settings``; clients of providers no
        longer needed, or built from other settings, are closed."""
        for provider in list(self._held):
            held_settings, client = self._held[provider]
            if provider not in providers or held_settings != settings.providers[provider]:
                client.close()
                del self._held[provider]
        for provider in providers:
            if provider not in self._held:
                self._held[provider] = (
                    settings.providers[provider],
                    self._factory(provider, settings),
                )
        return {provider: self._held[provider][1] for provider in providers}

    def close(self) -> None:
        for _, client in self._held.values():
            client.close()
        self._held.clear()
