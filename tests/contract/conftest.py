"""The harness fixtures: each contract test runs once per provider in ``HARNESSES`` (``harness``),
or once per provider that declares the capability it tests (the other three), so that what a
provider does not offer is never a skipped test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.providers.profile import Capabilities
from tests.contract.harness import Harness
from tests.contract.harnesses import HARNESSES


def _declaring(declares: Callable[[Capabilities], bool]) -> list[type[Harness]]:
    return [harness for harness in HARNESSES if declares(harness.profile.capabilities)]


def _name(harness: type[Harness]) -> str:
    return harness.profile.name


def _started(request: pytest.FixtureRequest, root: Path) -> Iterator[Harness]:
    started: Harness = request.param.start(request.getfixturevalue, root)
    yield started
    started.close()


@pytest.fixture(params=HARNESSES, ids=_name)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)


@pytest.fixture(params=_declaring(lambda c: c.updates_access), ids=_name)
def access_updating_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)


@pytest.fixture(params=_declaring(lambda c: c.deletes_jobs), ids=_name)
def deleting_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)


@pytest.fixture(params=_declaring(lambda c: not c.deletes_jobs), ids=_name)
def non_deleting_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    yield from _started(request, tmp_path)
