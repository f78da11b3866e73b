"""Fixtures for the daemon's tests: a small repository, and the environment pointing reconcile
at the sandbox (``sandbox`` / ``sandbox_server``, over real HTTP on a thread, speed 0, reset per
test, come from the sandbox's pytest plugin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.watch.watch_support import SCRUBBED, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def sandbox_env(sandbox_server: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's base URLs and keys, set in this process's environment (for daemons run
    on a thread) and returned (for daemons run as a child process)."""
    for variable in SCRUBBED:
        monkeypatch.delenv(variable, raising=False)
    env = dict(sandbox_server.env())
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return env
