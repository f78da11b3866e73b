"""The daemon on the embedded sandbox (``reconcile --watch --sandbox``): every run's settings,
read again from the checkout, are aimed at the sandbox as ``reconcile --sandbox``'s are."""

from __future__ import annotations

from pathlib import Path

from reconciler.config import Settings
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient
from reconciler.providers.clients import default_client_factory
from reconciler.providers.cohere.profile import CohereOptions
from reconciler.watch import Daemon, WatchOptions
from tests.support.repos import mark_repository
from tests.watch.watch_support import make_repo

COHERE_SPEC = """apiVersion: reconciler/v1
kind: FineTune
name: helpdesk
provider: cohere
base_model: {name: command-r, base_type: BASE_TYPE_CHAT}
dataset: {id: some-dataset}
"""


def test_every_run_polls_validations_at_the_pace_of_the_sandbox_clock(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    mark_repository(repo, providers="providers:\n  cohere:\n    validation_poll: 30\n")
    (repo / "specs" / "cohere.yaml").write_text(COHERE_SPEC, encoding="utf-8")
    polls: list[float] = []

    def recording(provider: Provider, settings: Settings) -> ProviderClient:
        options = settings.providers[provider].options
        if isinstance(options, CohereOptions):
            polls.append(options.validation_poll)
        return default_client_factory(provider, settings)

    daemon = Daemon(
        WatchOptions(use_sandbox=True, watch_files=False, quiet_period=0.0),
        cwd=repo,
        client_factory=recording,
    )
    daemon.open()
    try:
        daemon.converge_once()
    finally:
        daemon.close()
    # 30 s in reconciler.yaml, on a clock 60 times faster: half a second, on every run.
    assert polls and set(polls) == {0.5}, polls
