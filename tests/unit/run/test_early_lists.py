"""Lists requested while the specs are validated (``run.open_run``, ``observing.EarlyLists``):
they start before validation ends, a plan uses them once, an invalid spec abandons them with no
write, and neither a usage error nor a held apply lock lets a list go out."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import specs
from reconciler.config import Settings
from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.observed import ProviderObservation
from reconciler.core.plan import PlanOptions
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient
from reconciler.run import open_run
from tests.support.paths import REPO
from tests.support.repos import mark_repository

KEYS = {"SEGMIND_API_KEY": "s" * 12, "QUBRID_API_KEY": "q" * 12, "COHERE_API_KEY": "c" * 12}


class FakeClient:
    """Lists nothing; records what it is asked; ``hold`` keeps ``observe`` waiting until
    the client is closed (a provider slow to answer)."""

    def __init__(self, name: Provider, calls: list[str], hold: bool = False) -> None:
        self.name: Provider = name
        self.calls = calls
        self.hold = hold
        self.closed = threading.Event()
        self.observing = threading.Event()

    def observe(self) -> ProviderObservation:
        self.calls.append(f"observe {self.name}")
        self.observing.set()
        if self.hold:
            self.closed.wait(30)
        return ProviderObservation(self.name)

    def close(self) -> None:
        self.calls.append(f"close {self.name}")
        self.closed.set()

    def __getattr__(self, write: str) -> Callable[..., Any]:
        # upload_dataset, create, update_access, delete: any write is recorded.
        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(f"{write} {self.name}")

        return record


class Factory:
    def __init__(self, hold: bool = False) -> None:
        self.calls: list[str] = []
        self.built: dict[Provider, FakeClient] = {}
        self.hold = hold

    def __call__(self, provider: Provider, settings: Settings) -> ProviderClient:
        self.calls.append(f"build {provider}")
        client = self.built[provider] = FakeClient(provider, self.calls, self.hold)
        return client


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shutil.copytree(REPO / "specs", tmp_path / "specs")
    shutil.copytree(REPO / "datasets", tmp_path / "datasets")
    mark_repository(tmp_path)
    for variable, key in KEYS.items():
        monkeypatch.setenv(variable, key)
    for variable in ("CO_API_KEY", "SEGMIND_BASE_URL", "QUBRID_BASE_URL", "COHERE_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    yield tmp_path


def break_a_spec(repo: Path) -> None:
    spec = repo / "specs" / "segmind-flux.yaml"
    spec.write_text(spec.read_text().replace("base_model: FLUX", "base_model: FLUX_ULTRA"))


def test_the_lists_go_out_while_the_specs_are_validated(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = Factory()
    seen_during_validation: list[bool] = []

    def slow_to_validate(*args: Any, **kwargs: Any) -> Any:
        # Validation waits (up to 10 s) for every provider's list to have been asked for.
        for provider in ("segmind", "qubrid", "cohere"):
            seen_during_validation.append(_happens_soon(factory, provider, "observing"))
        return specs.load_specs(*args, **kwargs)

    monkeypatch.setattr("reconciler.specs.desired.load_specs", slow_to_validate)
    with open_run([repo / "specs"], factory=factory) as run:
        assert seen_during_validation == [True, True, True]
        reconciliation = run.plan()
    observed = reconciliation.observed.providers
    assert sorted(observed) == ["cohere", "qubrid", "segmind"]
    assert all(observation.complete for observation in observed.values())


def _happens_soon(factory: Factory, provider: Provider, event: str) -> bool:
    """Whether ``provider``'s client is built and its ``event`` set within about 10 s."""
    for _ in range(1000):
        client = factory.built.get(provider)
        if client is not None:
            happened: threading.Event = getattr(client, event)
            return happened.wait(10)
        threading.Event().wait(0.01)
    return False


def test_the_first_plan_uses_the_early_lists_and_a_second_lists_again(repo: Path) -> None:
    factory = Factory()
    with open_run([repo / "specs"], factory=factory) as run:
        run.plan()
        assert sorted(c for c in factory.calls if c.startswith("observe")) == [
            "observe cohere",
            "observe qubrid",
            "observe segmind",
        ]
        run.plan()
        assert len([c for c in factory.calls if c.startswith("observe")]) == 6
    assert len([c for c in factory.calls if c.startswith("build")]) == 3


def test_a_provider_named_without_a_key_is_listed_after_validation(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUBRID_API_KEY")
    factory = Factory()
    with open_run([repo / "specs"], factory=factory) as run:
        assert list(run.clients) == ["segmind", "qubrid", "cohere"]
        reconciliation = run.plan()
    assert [p.provider for p in reconciliation.observed.providers.values()] == [
        "segmind",
        "qubrid",
        "cohere",
    ]
    assert factory.calls.count("observe qubrid") == 1


def test_an_invalid_spec_abandons_the_lists_and_writes_nothing(repo: Path) -> None:
    break_a_spec(repo)
    factory = Factory(hold=True)
    with pytest.raises(InvalidInputError), open_run([repo / "specs"], factory=factory):
        pytest.fail("an invalid spec must stop the run before it is used")
    # Every client is closed, now or as soon as it is built, which releases a list in flight.
    for provider in ("segmind", "qubrid", "cohere"):
        assert _happens_soon(factory, provider, "closed"), factory.calls
    writes = [c for c in factory.calls if c.split()[0] not in ("build", "observe", "close")]
    assert writes == []


def test_a_usage_error_in_the_options_stops_the_run_before_any_list(repo: Path) -> None:
    factory = Factory()

    def refused(settings: Settings) -> PlanOptions:
        raise SystemExit(1)

    with pytest.raises(SystemExit), open_run([repo / "specs"], options=refused, factory=factory):
        pytest.fail("a usage error must stop the run")
    assert factory.calls == []


def engine_settings(repo: Path) -> Settings:
    from reconciler.config import load_settings

    return load_settings(repo)
