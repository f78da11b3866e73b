"""What the contract suite needs of each provider it runs against: a ``Harness``.

A harness gives the suite the provider's profile, the statuses the provider documents, clients
(with the right key, or a wrong one to see the provider refuse it), a valid ``DesiredJob`` of
that provider with a small local dataset, a way to let a job's training finish, and the form of
the dataset reference the provider shows for an upload of given names. One subclass per provider
(``sandbox_harnesses.py`` for the real three, against the sandbox over real HTTP;
``stub_harness.py`` for the test-only fourth); ``harnesses.py`` lists them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from reconciler.core.plan import Upload
from reconciler.core.spec import DesiredJob
from reconciler.providers.base import ProviderClient
from reconciler.providers.profile import ProviderProfile
from tests.contract.readings import Reading
from tests.support.providers import OWNER, upload_for

# A key no provider accepts; long and odd enough that finding it in a message is no accident.
WRONG_KEY = "sk-CONTRACT-wrong-key-0f9e8d7c6b5a"

# Looks up a fixture of the running test by name (``pytest.FixtureRequest.getfixturevalue``).
FixtureLookup = Callable[[str], Any]


class Harness(ABC):
    """One provider as the contract suite drives it. The class attributes are the provider's
    facts (read without starting anything); an instance serves one test, and ``close`` closes
    every client it built."""

    profile: ClassVar[ProviderProfile[Any]]
    # Every status the provider documents a job can have, with the status of the job's trained
    # model where the provider's health reads one (Qubrid); each maps to a known Health.
    documented_statuses: ClassVar[tuple[tuple[str, str | None], ...]]
    # Every status the provider under test (its sandbox emulation, the stub) can report.
    reported_statuses: ClassVar[tuple[str, ...]]
    # The owner id of the repository the suite's jobs belong to.
    owner: ClassVar[str] = OWNER

    def __init__(self, root: Path) -> None:
        self.root = root
        self._clients: list[ProviderClient] = []
        # The reading of the provider's open questions this test runs under (``take``).
        self.reading = Reading(self.profile.name)

    @classmethod
    def readings(cls) -> tuple[Reading, ...]:
        """Every reading of the provider's open questions the suite runs it under: here the
        defaults alone (a provider with no emulator to answer otherwise)."""
        return (Reading(cls.profile.name),)

    def take(self, reading: Reading) -> None:
        """Answer as ``reading`` says from now on (one of ``readings()``)."""
        if reading not in self.readings():
            raise ValueError(f"{self.profile.name} cannot answer as {reading.id}")
        self.reading = reading

    @classmethod
    @abstractmethod
    def start(cls, fixture: FixtureLookup, root: Path) -> Harness:
        """A harness for one test, whose files go under ``root``; ``fixture`` gives it the
        test's fixtures it needs (the sandbox, monkeypatch)."""

    def client(self, key: str | None = None) -> ProviderClient:
        """A client of the provider with its valid key, or with ``key`` instead."""
        built = self._build_client(key)
        self._clients.append(built)
        return built

    @abstractmethod
    def _build_client(self, key: str | None) -> ProviderClient: ...

    @abstractmethod
    def desired(self, name: str, **fields: Any) -> DesiredJob:
        """A valid job ``name`` of this provider, owned by ``owner``, with a small local
        dataset written under ``root``; ``fields`` override the spec's fields."""

    def upload(self, desired: DesiredJob) -> Upload:
        """The upload of ``desired``'s dataset, named as a plan names it."""
        return upload_for(desired)

    @abstractmethod
    def finish(self, job_id: str) -> None:
        """Let job ``job_id``'s training run to its end: it is then the trained job a user
        wanted (a provider that deploys its model afterwards has deployed it)."""

    @staticmethod
    @abstractmethod
    def stored_dataset_ref(remote_name: str, file_name: str) -> str | None:
        """The reference to a dataset uploaded as ``remote_name``/``file_name`` that a job
        shows, in the form the provider makes it, or ``None`` when a job's reference carries
        nothing of the names (they are read from the dataset list)."""

    def close(self) -> None:
        for built in self._clients:
            built.close()
