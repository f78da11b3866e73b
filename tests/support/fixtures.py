"""Shared fixtures (a pytest plugin of the root conftest): the sandbox over real HTTP for the
adapter tests (unit/providers, contract/), and quick retries.

``sandbox`` is the shared sandbox of the sandbox's pytest plugin (reset before each test, time
frozen). ``sentinel_sandbox`` is a second one whose keys are the sentinel values, so tests can
prove a key that the provider accepts never shows up in an error. Retries use ``fast_retry``:
tiny waits, recorded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from reconciler.providers.http import RetryPolicy
from tests.support.providers import SENTINEL_KEYS, RecordingSleep, fast_policy


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def fast_retry(sleeps: RecordingSleep) -> RetryPolicy:
    return fast_policy(sleeps)


@pytest.fixture(scope="session")
def sentinel_server() -> Iterator[RunningSandbox]:
    with start_sandbox(keys=SENTINEL_KEYS) as running:
        yield running


@pytest.fixture
def sentinel_sandbox(sentinel_server: RunningSandbox) -> RunningSandbox:
    sentinel_server.control.reset()
    sentinel_server.control.set_speed(0.0)
    return sentinel_server
