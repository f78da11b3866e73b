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

from reconciler.config import Secret, Settings
from reconciler.core.spec import Provider
from reconciler.specs.cache import state_dir

if TYPE_CHECKING:
    from reconciler.sandbox.testing import RunningSandbox

# Simulated seconds per real second under ``--sandbox``: jobs train in seconds, as in a demo,
# and the dataset validations an upload waits for finish at once.
SANDBOX_SPEED = 60.0
# The quickest look at a dataset's validation under ``--sandbox``, in real seconds.
SANDBOX_MIN_POLL = 0.05


@contextlib.contextmanager
def sandbox_settings(settings: Settings) -> Iterator[Settings]:
    """``settings`` pointed at the embedded sandbox, served on a thread for the ``with`` block
    with its state under ``<root>/.reconcile/sandbox``. The keys in the environment are not
    used: each provider gets the sandbox's own key."""
    # Imported here: the emulator's web stack (starlette, uvicorn) is for --sandbox runs only.
    from reconciler.sandbox.testing import start_running_sandbox

    running = start_running_sandbox(data_dir=state_dir(settings) / "sandbox", speed=SANDBOX_SPEED)
    try:
        wandb_key = settings.cohere.wandb_api_key
        yield replace(
            settings,
            segmind=replace(settings.segmind, **_sandbox_endpoint(running, "segmind")),
            qubrid=replace(settings.qubrid, **_sandbox_endpoint(running, "qubrid")),
            cohere=replace(
                settings.cohere,
                **_sandbox_endpoint(running, "cohere"),
                wandb_api_key=Secret("sandbox-wandb-key") if wandb_key else None,
                # The sandbox's clock runs SANDBOX_SPEED times faster: so does the poll.
                validation_poll=max(
                    SANDBOX_MIN_POLL, settings.cohere.validation_poll / SANDBOX_SPEED
                ),
            ),
        )
    finally:
        running.stop()


def _sandbox_endpoint(running: RunningSandbox, provider: Provider) -> dict[str, Any]:
    if provider not in running.keys:
        # A provider the sandbox does not emulate is pointed at a closed port, never at the
        # real service with the sandbox's key.
        return {"base_url": "http://127.0.0.1:9", "api_key": Secret(f"sandbox-{provider}-key")}
    return {"base_url": running.base_url(provider), "api_key": Secret(running.keys[provider])}
