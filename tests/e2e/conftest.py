"""Fixtures for the end-to-end tests: the sandbox over real HTTP on a thread, a repository
holding copies of the example specs and datasets, and the CLI pointed at both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from tests.e2e.e2e_support import Cli, copy_examples, sandbox_env

# Simulated seconds per real second: dataset validations an upload waits for finish in
# milliseconds; a test that needs the remote to stand still sets the speed to 0.
SPEED = 600.0


@pytest.fixture(scope="session")
def e2e_server() -> Iterator[RunningSandbox]:
    with start_sandbox(speed=SPEED) as running:
        yield running


@pytest.fixture
def running(e2e_server: RunningSandbox) -> RunningSandbox:
    e2e_server.control.reset()
    e2e_server.control.set_speed(SPEED)
    return e2e_server


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_examples(tmp_path / "repo")


@pytest.fixture
def reconcile(repo: Path, running: RunningSandbox) -> Cli:
    return Cli(repo, sandbox_env(running))
