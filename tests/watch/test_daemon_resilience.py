"""What a run may meet without ending the daemon: a failing ``git pull``, an unexpected error,
a prune that would reach beyond its paths; and the provider clients kept between runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import Settings, load_settings
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient
from reconciler.providers.clients import ClientPool
from reconciler.watch import Daemon, RunResult, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.watch.watch_support import (
    daemon_in_thread,
    quick_clients,
    segmind_jobs,
    segmind_spec,
    write_spec,
)

# Runs called directly, on a repository written a moment ago: no quiet period to wait for
# (these tests are about what a run meets, not about saves).
UNHELD = WatchOptions(watch_files=False, quiet_period=0.0)


def test_a_failed_pull_is_counted_and_the_current_checkout_still_converges(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")  # repo/.git is no repository: every pull fails
    with daemon_in_thread(repo, pull=True) as daemon:
        assert daemon.last_run is not None
        assert daemon.last_run.result is RunResult.SUCCESS
        assert segmind_jobs(sandbox, "fox-v1")
        assert 'reconcile_errors_total{kind="pull"} 1.0' in daemon.metrics.render().decode()


def test_an_unexpected_error_fails_the_run_not_the_daemon(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    write_spec(repo, "fox-v1")
    calls: list[Provider] = []

    def failing_once(provider: Provider, settings: Settings) -> ProviderClient:
        calls.append(provider)
        if len(calls) == 1:
            raise RuntimeError("surprise")
        return quick_clients(provider, settings)

    daemon = Daemon(UNHELD, cwd=repo, client_factory=failing_once)
    try:
        first = daemon.converge_once(frozenset({Trigger.START}))
        assert first.result is RunResult.ERROR and "RuntimeError: surprise" in first.summary
        second = daemon.converge_once()
        assert second.result is RunResult.SUCCESS, second.summary
        assert segmind_jobs(sandbox, "fox-v1")
    finally:
        daemon.close()


def test_prune_over_part_of_the_specs_is_refused_and_nothing_applied(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    (repo / "specs" / "team-a").mkdir()
    (repo / "specs" / "team-a" / "fox-v1.yaml").write_text(
        segmind_spec("fox-v1").replace("../datasets/", "../../datasets/")
    )
    options = replace(UNHELD, paths=(Path("specs/team-a"),), prune=True)
    daemon = Daemon(options, cwd=repo, client_factory=quick_clients)
    try:
        record = daemon.converge_once()
    finally:
        daemon.close()
    assert record.result is RunResult.INVALID
    assert "--prune needs every spec" in record.summary
    assert segmind_jobs(sandbox) == []


class CountingFactory:
    def __init__(self) -> None:
        self.built: list[Provider] = []
        self.clients: list[ProviderClient] = []

    def __call__(self, provider: Provider, settings: Settings) -> ProviderClient:
        self.built.append(provider)
        client = quick_clients(provider, settings)
        self.clients.append(client)
        return client


def test_clients_are_kept_between_runs_and_rebuilt_when_their_settings_change(
    sandbox: RunningSandbox, sandbox_env: dict[str, str], repo: Path
) -> None:
    factory = CountingFactory()
    pool = ClientPool(factory)
    settings = load_settings(repo)
    first = pool.clients_for(settings, ["segmind", "qubrid"])
    again = pool.clients_for(settings, ["segmind", "qubrid"])
    assert factory.built == ["segmind", "qubrid"]
    assert first["segmind"] is again["segmind"]

    moved = load_settings(repo, environ={**sandbox_env, "SEGMIND_API_KEY": "another-key-123"})
    third = pool.clients_for(moved, ["segmind"])
    assert factory.built == ["segmind", "qubrid", "segmind"]
    assert third["segmind"] is not first["segmind"]
    pool.close()
