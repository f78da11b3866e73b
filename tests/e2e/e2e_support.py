"""Helpers for the end-to-end tests: a repository to run in, the CLI, and counts of what the
sandbox holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner, Result

from reconciler.cli import cli
from reconciler.config import load_settings
from reconciler.diff import identify_jobs
from reconciler.engine import default_client_factory
from reconciler.model import PROVIDERS, Provider
from reconciler.sandbox.testing import RunningSandbox

REPO = Path(__file__).resolve().parents[2]
RECONCILE = Path(sys.executable).parent / "reconcile"
JOB_TABLES: Mapping[Provider, str] = {
    "segmind": "segmind_jobs",
    "qubrid": "qubrid_jobs",
    "cohere": "cohere_finetuned_models",
}
# Variables a developer's shell may hold that must never reach a test run.
_SCRUBBED = (
    "SEGMIND_API_KEY",
    "QUBRID_API_KEY",
    "COHERE_API_KEY",
    "CO_API_KEY",
    "WANDB_API_KEY",
    "SEGMIND_BASE_URL",
    "QUBRID_BASE_URL",
    "COHERE_BASE_URL",
    "CO_API_URL",
    "RECONCILE_DEBUG",
    "NO_COLOR",
)


def copy_examples(root: Path) -> Path:
    """A repository at ``root`` holding copies of the example specs and datasets."""
    shutil.copytree(REPO / "specs", root / "specs")
    shutil.copytree(REPO / "datasets", root / "datasets")
    (root / ".git").mkdir()
    return root


def example_spec_names() -> list[tuple[Provider, str]]:
    names = []
    for path in sorted((REPO / "specs").glob("*.yaml")):
        fields = dict(
            line.split(":", 1) for line in path.read_text().splitlines() if line[:1].isalpha()
        )
        provider = fields["provider"].strip()
        assert provider in PROVIDERS
        names.append((provider, fields["name"].strip()))
    return names


def sandbox_env(running: RunningSandbox, keys: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment that points the CLI at ``running`` (``keys`` replace its keys)."""
    env = dict(running.env())
    for variable in list(env):
        for provider, key in (keys or {}).items():
            if variable.startswith(provider.upper()) and variable.endswith("_API_KEY"):
                env[variable] = key
            if provider == "cohere" and variable == "CO_API_KEY":
                env[variable] = key
    return env


@dataclass
class Cli:
    """Runs ``reconcile`` in ``repo`` with ``env`` (in-process, through click's runner)."""

    repo: Path
    env: dict[str, str]
    runs: list[Result] = field(default_factory=list)

    def __call__(self, *args: str) -> Result:
        environment: dict[str, str | None] = dict.fromkeys(_SCRUBBED)
        environment.update(self.env)
        previous = Path.cwd()
        os.chdir(self.repo)
        try:
            result = CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)
        finally:
            os.chdir(previous)
        self.runs.append(result)
        return result

    def subprocess(
        self, *args: str, timeout: float = 120.0, extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The installed console script in a child process (what a user runs)."""
        return subprocess.run(
            [str(RECONCILE), *args],
            cwd=self.repo,
            env=child_env(self.env, extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def child_env(env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    return {**base, **env, **(extra or {})}


def job_rows(running: RunningSandbox) -> dict[Provider, int]:
    """How many job rows each provider's table holds (deleted or cancelled ones included)."""
    store = running.sandbox.store
    return {
        provider: int(store.query_one(f"SELECT count(*) AS n FROM {table}")["n"])
        for provider, table in JOB_TABLES.items()
    }


def live_jobs(running: RunningSandbox, root: Path) -> Counter[tuple[Provider, str | None]]:
    """Live remote jobs per (provider, name), as the adapters list and name them."""
    settings = load_settings(root, environ=running.env())
    counts: Counter[tuple[Provider, str | None]] = Counter()
    for provider in PROVIDERS:
        client = default_client_factory(provider, settings)
        try:
            observation = client.observe()
        finally:
            client.close()
        assert observation.complete, observation.error
        for job in identify_jobs(observation):
            if job.health.is_live:
                counts[(provider, job.name)] += 1
    return counts


def methods(running: RunningSandbox) -> Counter[str]:
    """Requests per method since the counters were last cleared (control API excluded)."""
    counts: Counter[str] = Counter()
    for route, count in running.control.request_counts().items():
        counts[route.split(" ", 1)[0]] += count
    return counts


def plan_json(result: Result) -> dict[str, object]:
    document: dict[str, object] = json.loads(result.stdout)
    return document


def actions(document: Mapping[str, object]) -> Counter[tuple[str, str]]:
    changes = document["changes"]
    assert isinstance(changes, list)
    return Counter((c["action"], c["name"]) for c in changes if c["action"] != "noop")


def all_output(results: Iterable[Result]) -> str:
    return "\n".join(r.stdout + r.stderr for r in results)
