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

from reconcile_sandbox.testing import RunningSandbox
from reconciler.cli import cli
from reconciler.config import load_settings
from reconciler.core.spec import PROVIDERS, Provider
from reconciler.diff import identify_jobs
from reconciler.providers.clients import default_client_factory
from tests.support.repos import mark_repository

REPO = Path(__file__).resolve().parents[2]
RECONCILE = Path(sys.executable).parent / "reconcile"
# Settings for a sandbox whose lists never lag: a create whose answer was lost is settled
# within half a second (and the run looks for its job a little longer than that), and a
# failed request is sent again after a few milliseconds instead of half a second.
QUICK_SETTLING = "settle_window: 0.5\nconfirm_wait: 1.5\nretry_wait: 0.02\n"
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
    return mark_repository(root)


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


def live_jobs_by_owner(
    running: RunningSandbox, root: Path
) -> Counter[tuple[Provider, str | None, str | None]]:
    """Live remote jobs per (provider, owner id, spec name), as the adapters list them."""
    settings = load_settings(root, environ=running.env())
    counts: Counter[tuple[Provider, str | None, str | None]] = Counter()
    for provider in PROVIDERS:
        client = default_client_factory(provider, settings)
        try:
            observation = client.observe()
        finally:
            client.close()
        assert observation.complete, observation.error
        for job in identify_jobs(observation):
            if job.health.is_live:
                counts[(provider, job.owner, job.name)] += 1
    return counts


def live_jobs(running: RunningSandbox, root: Path) -> Counter[tuple[Provider, str | None]]:
    """Live remote jobs per (provider, spec name), whatever their owner."""
    counts: Counter[tuple[Provider, str | None]] = Counter()
    for (provider, _, name), count in live_jobs_by_owner(running, root).items():
        counts[(provider, name)] += count
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


def write_generated_specs(root: Path, count: int) -> list[tuple[Provider, str]]:
    """``count`` specs over the three providers, each with a small dataset of its own: image
    folders and ``{url:}`` datasets for Segmind, question/answer CSVs for Qubrid,
    classification CSVs for Cohere. Returns their (provider, name) pairs."""
    if not (root / "reconciler.yaml").exists():
        # Many specs at once, and a sandbox whose lists do not lag (no list_lag rule): a
        # create whose answer was lost is settled after half a second instead of five minutes,
        # within the run's own search for its job; failed requests are retried at once.
        mark_repository(root, config=f"guardrails: {{max_creates: 10000}}\n{QUICK_SETTLING}")
    specs, data = root / "specs", root / "datasets"
    specs.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    names: list[tuple[Provider, str]] = []
    for index in range(count):
        provider: Provider = PROVIDERS[index % 3]
        name = f"gen-{provider}-{index:04d}"
        if provider == "segmind":
            body = _segmind_spec(name, index, data)
        elif provider == "qubrid":
            csv = data / f"{name}.csv"
            rows = "".join(f'"Question {index}.{n}?","Answer {index}.{n}."\n' for n in range(3))
            csv.write_text("question,answer\n" + rows)
            body = (
                f"provider: qubrid\nbase_model: Qwen/Qwen2.5-7B-Instruct\n"
                f"dataset: ../datasets/{csv.name}\ntask_type: qa\nparameters:\n  epochs: 1\n"
            )
        else:
            csv = data / f"{name}.csv"
            labels = ("billing", "bug", "feature")
            rows = "".join(f'"ticket {index} number {n}",{labels[n % 3]}\n' for n in range(45))
            csv.write_text("text,label\n" + rows)
            body = (
                "provider: cohere\nbase_model:\n  base_type: BASE_TYPE_CLASSIFICATION\n"
                f"dataset: ../datasets/{csv.name}\n"
            )
        (specs / f"{name}.yaml").write_text(
            f"apiVersion: reconciler/v1\nkind: FineTune\nname: {name}\n{body}"
        )
        names.append((provider, name))
    return names


# The smallest valid PNG: a 1x1 pixel.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de00000000"
    "49454e44ae426082"
)


def _segmind_spec(name: str, index: int, data: Path) -> str:
    access = "public" if index % 2 else "private"
    if index % 6 == 0:
        dataset = f"\n  url: https://datasets.example.invalid/{name}.zip"
    else:
        folder = data / name
        folder.mkdir()
        (folder / "image-1.png").write_bytes(_PNG)
        (folder / "image-1.txt").write_text(f"photo of TOK number {index}")
        dataset = f" ../datasets/{name}/"
    return (
        f"provider: segmind\nbase_model: FLUX_PRO\ndataset:{dataset}\naccess: {access}\n"
        "trigger_word: TOK\ninstance_prompt: photo of TOK\ntheme: CHARACTER\n"
    )
