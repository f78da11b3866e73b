"""The harness of the test-only fourth provider, ``stub`` (``stub_provider/``): an in-memory
account, no network.

The diff finds a provider's profile in ``PROFILES`` by its name, as it does the real three's; a
real provider is listed there in ``reconciler/providers/profiles.py``, and the stub, which no
product file may name, is listed for the duration of each test instead (``monkeypatch``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from reconciler.core.spec import DesiredJob
from reconciler.providers.base import ProviderClient
from reconciler.providers.profile import ProviderProfile
from reconciler.providers.profiles import PROFILES
from tests.contract.harness import FixtureLookup, Harness
from tests.contract.stub_provider.adapter import (
    JOB_STATUSES,
    QUEUED,
    READY,
    StubAccount,
    StubClient,
)
from tests.contract.stub_provider.profile import STUB, STUB_PROFILE
from tests.support.providers import chat_jsonl, desired_for, spec


class StubHarness(Harness):
    profile: ClassVar[ProviderProfile[Any]] = STUB_PROFILE
    documented_statuses = tuple((status, None) for status in JOB_STATUSES)
    # The account sets these two (create, ``finish``).
    reported_statuses = (QUEUED, READY)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.account = StubAccount()

    @classmethod
    def start(cls, fixture: FixtureLookup, root: Path) -> Harness:
        monkeypatch: pytest.MonkeyPatch = fixture("monkeypatch")
        monkeypatch.setitem(PROFILES, STUB, STUB_PROFILE)
        return cls(root)

    def _build_client(self, key: str | None) -> ProviderClient:
        return StubClient(self.account, key if key is not None else self.account.api_key)

    def desired(self, name: str, **fields: Any) -> DesiredJob:
        written: dict[str, Any] = {"access": "private", "parameters": {"epochs": 1}}
        written.update(fields)
        jsonl = chat_jsonl(self.root, name=f"{name}.jsonl")
        return desired_for(spec(STUB, name, jsonl, base_model="stub-base-1", **written))

    def finish(self, job_id: str) -> None:
        self.account.finish(job_id)

    @staticmethod
    def stored_dataset_ref(remote_name: str, file_name: str) -> str:
        return f"{remote_name}-x7k2q9"
