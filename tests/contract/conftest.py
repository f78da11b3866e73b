"""The harness fixtures of the protocol suite: each test runs once per provider in
``HARNESSES`` and per reading of that provider's open questions the harness runs under
(``Harness.readings()``: the defaults, then each variant of the sandbox's emulation alone), less
the readings ``readings.NOT_UNDER`` says the test cannot hold under. ``harness`` takes every
provider; the other three only the providers that declare the capability they test, so that what
a provider does not offer is never a skipped test.

The parametrisation is made here (``pytest_generate_tests``) rather than by fixture params,
because which readings a test runs under depends on the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from reconciler.providers.profile import Capabilities
from tests.contract.harness import Harness
from tests.contract.harnesses import HARNESSES
from tests.contract.readings import Reading, runs_under

# Each harness fixture, with which providers it takes (by the capabilities they declare).
FIXTURES: Mapping[str, Callable[[Capabilities], bool]] = {
    "harness": lambda c: True,
    "access_updating_harness": lambda c: c.updates_access,
    "deleting_harness": lambda c: c.deletes_jobs,
    "non_deleting_harness": lambda c: not c.deletes_jobs,
}


def _parametrised_by_the_test(metafunc: pytest.Metafunc, name: str) -> bool:
    """Whether the test parametrises ``name`` itself (the profile facts take harness classes)."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if name in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for fixture, takes in FIXTURES.items():
        if fixture not in metafunc.fixturenames or _parametrised_by_the_test(metafunc, fixture):
            continue
        cases = [
            pytest.param((harness, reading), id=reading.id)
            for harness in HARNESSES
            if takes(harness.profile.capabilities)
            for reading in harness.readings()
            if runs_under(metafunc.function.__name__, reading)
        ]
        metafunc.parametrize(fixture, cases, indirect=True)


def _started(request: pytest.FixtureRequest, root: Path) -> Iterator[Harness]:
    chosen: tuple[type[Harness], Reading] = request.param
    kind, reading = chosen
    started = kind.start(request.getfixturevalue, root)
    started.take(reading)
    yield started
    started.close()


@pytest.fixture
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)


@pytest.fixture
def access_updating_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)


@pytest.fixture
def deleting_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)


@pytest.fixture
def non_deleting_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)
