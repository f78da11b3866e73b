"""Building the adapters from Settings (the environment) and observing all providers at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import load_settings
from reconciler.observing import observe_all
from reconciler.providers.http import ProviderHttp, RetryPolicy
from reconciler.providers.registry import build_clients, close_clients
from reconciler.redact import redact
from reconciler.sandbox.testing import RunningSandbox
from tests.providers.provider_support import SENTINEL_KEYS


def test_clients_from_the_environment_observe_every_provider(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    sandbox.control.seed("segmind", 3)
    sandbox.control.seed("qubrid", 4)
    sandbox.control.seed("cohere", 5)
    sandbox.control.clear_requests()
    settings = load_settings(tmp_path, sandbox.env())

    clients = build_clients(settings, retry=fast_retry)
    try:
        observed = observe_all(clients)
    finally:
        close_clients(clients)

    counts = {name: len(o.jobs) for name, o in observed.providers.items()}
    assert counts == {"segmind": 3, "qubrid": 4, "cohere": 5}
    assert all(o.complete for o in observed.providers.values())
    # One list per provider (Qubrid: its jobs, datasets and models lists).
    assert sum(sandbox.control.request_counts().values()) == 5


def test_co_api_key_alone_is_accepted_for_cohere(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    env = {
        "COHERE_BASE_URL": sandbox.base_url("cohere"),
        "CO_API_KEY": sandbox.keys["cohere"],
    }
    clients = build_clients(load_settings(tmp_path, env), ["cohere"], retry=fast_retry)
    try:
        observation = observe_all(clients).providers["cohere"]
    finally:
        close_clients(clients)
    assert observation.complete


def test_building_clients_registers_every_key_for_redaction(tmp_path: Path) -> None:
    env = {
        "SEGMIND_API_KEY": SENTINEL_KEYS["segmind"],
        "QUBRID_API_KEY": SENTINEL_KEYS["qubrid"],
        "CO_API_KEY": SENTINEL_KEYS["cohere"],
        "WANDB_API_KEY": "wandb-registry-secret",
    }
    close_clients(build_clients(load_settings(tmp_path, env)))

    text = " ".join([*SENTINEL_KEYS.values(), "wandb-registry-secret"])
    assert redact(text) == "**** **** **** ****"


def test_a_provider_without_a_key_is_observed_as_incomplete_without_a_request(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path
) -> None:
    env = {"QUBRID_BASE_URL": sandbox.base_url("qubrid")}
    clients = build_clients(load_settings(tmp_path, env), ["qubrid"], retry=fast_retry)
    try:
        observation = observe_all(clients).providers["qubrid"]
    finally:
        close_clients(clients)
    assert not observation.complete
    assert observation.error is not None and "set QUBRID_API_KEY" in observation.error
    assert sandbox.control.request_counts() == {}


def test_retry_wait_in_reconciler_yaml_bounds_the_pauses_between_attempts(
    sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "reconciler.yaml").write_text("retry_wait: 0.01\n")
    pauses: list[float] = []
    monkeypatch.setattr(ProviderHttp, "pause", lambda self, seconds: pauses.append(seconds))
    sandbox.control.add_fault(kind="error", status=503, provider="segmind", method="GET", count=3)
    clients = build_clients(load_settings(tmp_path, sandbox.env()), ["segmind"])
    try:
        observation = observe_all(clients).providers["segmind"]
    finally:
        close_clients(clients)
    assert observation.complete, observation.error
    # Each pause a random share of 0.01 s, doubling (the default would be 0.5 s).
    assert len(pauses) == 3
    assert all(0 <= pause <= 0.01 * 2**attempt for attempt, pause in enumerate(pauses))
