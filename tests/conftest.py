"""Fixtures for every test."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

# The fixtures every tier shares live in tests/support/ (builders and fixtures).
pytest_plugins = ("tests.support.fixtures",)


@pytest.fixture(autouse=True)
def _interpreter_settings_restored() -> Iterator[None]:
    """``reconciler.cli.main`` tunes the interpreter for the process it runs in (collector
    thresholds, thread switch interval); a test that calls it in this process must not
    change how the tests after it run."""
    threshold, switch = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.set_threshold(*threshold)
    sys.setswitchinterval(switch)
