"""Runs against the embedded sandbox (``--sandbox``): the emulator served on a thread, and the
settings pointed at it.

The one module of the product that reaches the sandbox package, for a run (``reconciler.run``)
or for the daemon's whole life (``reconciler.watch``). The sandbox's state lives under the
run's state folder, its clock runs ``SANDBOX_SPEED`` times faster than the wall clock, and
every provider gets the sandbox's own key, never one from the environment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reconciler.config import ProviderSettings, Secret, Settings
from reconciler.core.spec import Provider
from reconciler.providers.profiles import PROFILES
from reconciler.specs.cache import state_dir

if TYPE_CHECKING:
    from reconcile_sandbox.server import ServerThread

# Simulated seconds per real second under ``--sandbox``: jobs train in seconds, as in a demo,
# and the dataset validations an upload waits for finish at once.
SANDBOX_SPEED = 60.0


@contextlib.contextmanager
def sandbox_settings(settings: Settings) -> Iterator[Settings]:
    """``settings`` pointed at the embedded sandbox, served on a thread for the ``with`` block
    with its state under ``<root>/.reconcile/sandbox``. The keys in the environment are not
    used: each provider gets the sandbox's own key."""
    # Imported here, and only here in the product: reconcile_sandbox is a distribution of its
    # own (the `sandbox` extra) that an installation may lack; the command line says what to
    # install before it gets this far (cli._require_sandbox).
    from reconcile_sandbox.app import SandboxConfig
    from reconcile_sandbox.server import start_in_thread

    running = start_in_thread(
        SandboxConfig(data_dir=state_dir(settings) / "sandbox", speed=SANDBOX_SPEED)
    )
    try:
        yield replace(
            settings,
            providers={
                provider: _sandboxed(provider, own, running)
                for provider, own in settings.providers.items()
            },
        )
    finally:
        running.stop()


def _sandboxed(
    provider: Provider, settings: ProviderSettings[Any], running: ServerThread
) -> ProviderSettings[Any]:
    """A provider's settings aimed at the sandbox, with its keys and a stand-in for each key
    of another service, and its options as they are where the clock runs SANDBOX_SPEED times
    faster."""
    if provider in running.keys:
        base_url, key = running.base_url(provider), running.keys[provider]
    else:
        # A provider the sandbox does not emulate is pointed at a closed port, never at the
        # real service with the sandbox's key.
        base_url, key = "http://127.0.0.1:9", f"sandbox-{provider}-key"
    return replace(
        settings,
        base_url=base_url,
        api_key=Secret(key),
        service_keys={name: Secret(f"sandbox-{name}-key") for name in settings.service_keys},
        options=PROFILES[provider].options_under_sandbox(settings.options, SANDBOX_SPEED),
    )


def aimed_like(settings: Settings, sandboxed: Settings) -> Settings:
    """``settings`` read again (the daemon reads them on every run) aimed where ``sandboxed``,
    made by ``sandbox_settings``, is aimed: its endpoints and keys, and the options as they are
    under the sandbox's clock, as on the sandbox's first run."""
    return replace(
        settings,
        providers={
            provider: replace(
                own,
                base_url=sandboxed.providers[provider].base_url,
                api_key=sandboxed.providers[provider].api_key,
                service_keys=sandboxed.providers[provider].service_keys,
                options=PROFILES[provider].options_under_sandbox(own.options, SANDBOX_SPEED),
            )
            for provider, own in settings.providers.items()
        },
    )
