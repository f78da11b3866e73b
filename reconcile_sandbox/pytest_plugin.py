"""pytest fixtures for tests that talk to the sandbox over real HTTP.

Installing the ``reconcile-finetune-sandbox`` distribution registers this module with pytest (its
``pytest11`` entry point), so any test may ask for ``sandbox`` or ``sandbox_server``.

``sandbox_server`` serves one in-memory sandbox (speed 0: time moves only when a test advances
it) for the whole session; ``sandbox`` hands it to a test after a reset, so every test starts
with no jobs, no objects, no faults and zeroed request counters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconcile_sandbox.testing import RunningSandbox, start_sandbox


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningSandbox]:
    with start_sandbox(speed=0.0) as running:
        yield running


@pytest.fixture
def sandbox(sandbox_server: RunningSandbox) -> RunningSandbox:
    sandbox_server.control.reset()
    sandbox_server.control.set_speed(0.0)
    return sandbox_server
