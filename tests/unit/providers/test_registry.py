"""Building the adapters from Settings (the environment) and observing all providers at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import Settings, load_settings
from reconciler.core.spec import PROVIDERS, Provider
from reconciler.observing import observe_all
from reconciler.providers.base import ProviderClient
from reconciler.providers.clients import ClientFactory, ClientPool
from reconciler.providers.http import ProviderHttp, RetryPolicy
from reconciler.providers.registry import build_client
from reconciler.redact import redact
from tests.support.providers import SENTINEL_KEYS


def test_clients_from_the_environment_observe_every_provider(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.seed("segmind", 3)
    sandbox.control.seed("qubrid", 4)
    sandbox.control.seed("cohere", 5)
    sandbox.control.clear_requests()
    settings = load_settings(tmp_path, sandbox.env())

    with ClientPool(quick(fast_retry)) as pool:
        observed = observe_all(pool.clients_for(settings, PROVIDERS))

    counts = {name: len(o.jobs) for name, o in observed.providers.items()}
    assert counts == {"segmind": 3, "qubrid": 4, "cohere": 5}
    assert all(o.complete for o in observed.providers.values())
    # One list per provider (Qubrid: its jobs, datasets and models lists; Cohere: its models
    # and datasets lists).
    assert sum(sandbox.control.request_counts().values()) == 6


def test_co_api_key_alone_is_accepted_for_cohere(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    env = {
        "COHERE_BASE_URL": sandbox.base_url("cohere"),
        "CO_API_KEY": sandbox.keys["cohere"],
    }
    with ClientPool(quick(fast_retry)) as pool:
        clients = pool.clients_for(load_settings(tmp_path, env), ["cohere"])
        observation = observe_all(clients).providers["cohere"]
    assert observation.complete


def test_building_clients_registers_every_key_for_redaction(tmp_path: Path) -> None:
    env = {
        "SEGMIND_API_KEY": SENTINEL_KEYS["segmind"],
        "QUBRID_API_KEY": SENTINEL_KEYS["qubrid"],
        "CO_API_KEY": SENTINEL_KEYS["cohere"],
        "WANDB_API_KEY": "wandb-registry-secret",
    }
    with ClientPool() as pool:
        pool.clients_for(load_settings(tmp_path, env), PROVIDERS)

    text = " ".join([*SENTINEL_KEYS.values(), "wandb-registry-secret"])
    assert redact(text) == "**** **** **** ****"


def test_a_provider_without_a_key_is_observed_as_incomplete_without_a_request(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    env = {"QUBRID_BASE_URL": sandbox.base_url("qubrid")}
    with ClientPool(quick(fast_retry)) as pool:
        clients = pool.clients_for(load_settings(tmp_path, env), ["qubrid"])
        observation = observe_all(clients).providers["qubrid"]
    assert not observation.complete
    assert observation.error is not None and "set QUBRID_API_KEY" in observation.error
    assert sandbox.control.request_counts() == {}


def quick(retry: RetryPolicy) -> ClientFactory:
    """Clients that retry on ``retry``'s quick schedule."""

    def build(provider: Provider, settings: Settings) -> ProviderClient:
        return build_client(provider, settings, retry=retry)

    return build


def test_retry_wait_in_reconciler_yaml_bounds_the_pauses_between_attempts(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "reconciler.yaml").write_text("retry_wait: 0.01\n")
    pauses: list[float] = []
    monkeypatch.setattr(ProviderHttp, "pause", lambda self, seconds: pauses.append(seconds))
    sandbox.control.add_fault(kind="error", status=503, provider="segmind", method="GET", count=3)
    pool = ClientPool(build_client)
    try:
        clients = pool.clients_for(load_settings(tmp_path, sandbox.env()), ["segmind"])
        observation = observe_all(clients).providers["segmind"]
    finally:
        pool.close()
    assert observation.complete, observation.error
    # Each pause a random share of 0.01 s, doubling (the default would be 0.5 s).
    assert len(pauses) == 3
    assert all(0 <= pause <= 0.01 * 2**attempt for attempt, pause in enumerate(pauses))
