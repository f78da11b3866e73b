"""``reconcile import`` end to end over real HTTP: the sandbox on a thread holds seeded jobs and
jobs our adapters created (which carry the ownership marker); each provider is imported into a
fresh repository, the result validates, and a dry run right after shows no change. Also: the
refusal to overwrite, ``--match``, and that no secret reaches a written file."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from reconciler.cli import cli
from reconciler.core.spec import PROVIDERS
from tests.support.paths import REPO
from tests.support.repos import mark_repository

# Simulated seconds per real second: the dataset validations an apply waits for finish at once.
SPEED = 600.0
# A hosted Segmind dataset whose URL carries a pre-signed query, and our marker in its file name.
SIGNATURE = "sandbox-signature-0f9e8d"
SIGNED_URL = (
    "https://datasets.example.com/uploads/u1/f1-fox-url-v1-rc0123456789ab.zip"
    f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={SIGNATURE}"
)
URL_SPEC = f"""\
apiVersion: reconciler/v1
kind: FineTune
name: fox-url-v1
provider: segmind
base_model: FLUX_PRO
dataset:
  url: {SIGNED_URL}
access: public
instance_prompt: photo of TOK, a plush fox
theme: CHARACTER
parameters:
  iterations: 150
"""
# Variables of the developer's shell that must not reach a run.
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
)


def run(repo: Path, env: Mapping[str, str], *args: str) -> Result:
    """``reconcile ARGS`` in ``repo``, in process, with only ``env`` for its settings."""
    environment: dict[str, str | None] = dict.fromkeys(_SCRUBBED)
    environment.update(env)
    previous = Path.cwd()
    os.chdir(repo)
    try:
        return CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)
    finally:
        os.chdir(previous)


def new_repo(root: Path) -> Path:
    """An empty repository with the schemas, so the written modelines resolve."""
    mark_repository(root)
    shutil.copytree(REPO / "schemas", root / "schemas")
    return root


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """The sandbox with seeded jobs of every provider, and the example specs (plus a Segmind
    ``{url:}`` spec with a signed URL) applied through the adapters."""
    with start_sandbox(speed=SPEED) as sandbox:
        sandbox.control.seed("segmind", 8, prefix="seeded")
        sandbox.control.seed("qubrid", 20, prefix="seeded")  # one of them cancelled
        sandbox.control.seed("cohere", 4, prefix="seeded")
        source = tmp_path_factory.mktemp("source")
        mark_repository(source)
        shutil.copytree(REPO / "specs", source / "specs")
        shutil.copytree(REPO / "datasets", source / "datasets")
        (source / "specs" / "segmind-url.yaml").write_text(URL_SPEC)
        applied = run(source, sandbox.env(), "apply")
        assert applied.exit_code == 0, applied.output
        yield sandbox


def test_every_provider_round_trips_import_then_a_dry_run_without_changes(
    running: RunningSandbox, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    env = running.env()
    outputs = {}
    for provider in PROVIDERS:
        result = run(repo, env, "import", "--provider", provider)
        assert result.exit_code == 0, result.output
        outputs[provider] = result.stdout
    written = sorted(p.stem for p in (repo / "specs" / "imported").glob("*.yaml"))
    # Jobs our adapters created are named as their specs were (Qubrid's through its marker).
    for name in ("fox-url-v1", "support-qa-v1", "release-notes-v1", "support-chat-v1"):
        assert name in written, written
    assert sum(name.startswith("seeded-") for name in written) == 8 + 4
    assert sum(name.startswith("qubrid-ftjob-") for name in written) == 19
    # The example Segmind jobs trained on uploads at the sandbox's http:// address: a spec's
    # {url:} must be https, so they are skipped, with the reason.
    assert "skipped segmind job" in outputs["segmind"]
    assert "must be an https:// URL" in outputs["segmind"]
    assert "cancelled: deleted or cancelled jobs are not imported" in outputs["qubrid"]
    for provider, output in outputs.items():
        assert f"Imported {written_count(output)} {provider} job" in output

    validated = run(repo, env, "validate", "specs/imported")
    assert validated.exit_code == 0, validated.output
    assert f"ok: {len(written)} specs in {len(written)} files valid" in validated.stdout

    dry = run(repo, env, "plan", "--detailed-exitcode", "specs/imported")
    assert dry.exit_code == 0, dry.output
    assert "0 to create, 0 to update, 0 to replace, 0 to delete" in dry.stdout
    as_json = run(repo, env, "plan", "--output", "json", "specs/imported")
    changes = json.loads(as_json.stdout)["changes"]
    assert len(changes) == len(written)
    assert {c["action"] for c in changes} == {"noop"}


def written_count(output: str) -> int:
    return sum(line.startswith("wrote ") for line in output.splitlines())


def test_written_files_hold_no_secret_and_no_signed_query(
    running: RunningSandbox, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    result = run(repo, running.env(), "import", "--provider", "segmind", "--match", "^fox-url-")
    assert result.exit_code == 0, result.output
    text = (repo / "specs" / "imported" / "fox-url-v1.yaml").read_text()
    assert "url: https://datasets.example.com/uploads/u1/f1-fox-url-v1-rc0123456789ab.zip\n" in text
    secrets = [SIGNATURE, "X-Amz", "?", *running.keys.values()]
    for secret in secrets:
        assert secret not in text
        assert secret not in result.output
    assert "# yaml-language-server: $schema=../../schemas/finetune.schema.json" in text


def test_match_imports_only_the_matching_names(running: RunningSandbox, tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    result = run(repo, running.env(), "import", "--provider", "cohere", "--match", "^support-")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (repo / "specs" / "imported").iterdir()] == ["support-chat-v1.yaml"]
    assert "did not match --match '^support-'" in result.stdout
    assert "Imported 1 cohere job into specs/imported" in result.stdout


def test_an_existing_file_refuses_the_whole_import(running: RunningSandbox, tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    env = running.env()
    first = run(repo, env, "import", "--provider", "cohere", "--out", "adopted")
    assert first.exit_code == 0, first.output
    before = {p.name: p.read_text() for p in (repo / "adopted").iterdir()}
    (repo / "adopted" / "support-chat-v1.yaml").unlink()
    (repo / "adopted" / "ticket-labels-v1.yaml").write_text("# edited by hand\n")

    again = run(repo, env, "import", "--provider", "cohere", "--out", "adopted")
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.stderr
    assert "nothing was written" in again.stderr
    # Nothing written: the removed file stays removed, the edited one stays edited.
    assert not (repo / "adopted" / "support-chat-v1.yaml").exists()
    assert (repo / "adopted" / "ticket-labels-v1.yaml").read_text() == "# edited by hand\n"
    after = {p.name for p in (repo / "adopted").iterdir()}
    assert after == set(before) - {"support-chat-v1.yaml"}


def test_a_second_import_adds_only_the_jobs_no_spec_names_yet(
    running: RunningSandbox, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    env = running.env()
    first = run(repo, env, "import", "--provider", "cohere")
    assert first.exit_code == 0, first.output
    before = sorted(p.name for p in (repo / "specs" / "imported").iterdir())
    running.control.seed("cohere", 1, prefix="later")

    second = run(repo, env, "import", "--provider", "cohere")
    assert second.exit_code == 0, second.output
    after = sorted(p.name for p in (repo / "specs" / "imported").iterdir())
    assert sorted(set(after) - set(before)) == ["later-model-00001.yaml"]
    assert f"{len(before)} already managed by the repository's specs" in second.stdout
    dry = run(repo, env, "plan", "--detailed-exitcode", "specs/imported")
    assert dry.exit_code == 0, dry.output


def test_the_modeline_follows_the_out_dir(running: RunningSandbox, tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    result = run(repo, running.env(), "import", "--provider", "qubrid", "--out", "specs/a/b")
    assert result.exit_code == 0, result.output
    first = sorted((repo / "specs" / "a" / "b").glob("*.yaml"))[0].read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../../schemas/finetune.schema.json"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--provider", "cohere", "--match", "(unclosed"), "is not a valid regular expression"),
        (("--provider", "nobody"), "nobody"),
    ],
)
def test_bad_options_exit_1_and_write_nothing(
    running: RunningSandbox, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    repo = new_repo(tmp_path / "repo")
    result = run(repo, running.env(), "import", *args)
    assert result.exit_code != 0
    assert message in result.output + result.stderr
    assert not (repo / "specs").exists()


def test_a_provider_that_cannot_be_read_exits_1_and_writes_nothing(
    running: RunningSandbox, tmp_path: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    env = {**running.env(), "QUBRID_API_KEY": "wrong-key"}
    result = run(repo, env, "import", "--provider", "qubrid")
    assert result.exit_code == 1
    assert "qubrid could not be read" in result.stderr
    assert "wrong-key" not in result.output + result.stderr
    assert not (repo / "specs").exists()


def test_sandbox_imports_from_the_embedded_emulators_state(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    with start_sandbox(data_dir=repo / ".reconcile" / "sandbox") as embedded:
        embedded.control.seed("segmind", 2, prefix="demo")
    # No key and no base URL in the environment: --sandbox supplies both.
    result = run(repo, {}, "import", "--provider", "segmind", "--sandbox")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (repo / "specs" / "imported").iterdir()) == [
        "demo-000000.yaml",
        "demo-000001.yaml",
    ]
    dry = run(repo, {}, "plan", "--sandbox", "--detailed-exitcode", "specs/imported")
    assert dry.exit_code == 0, dry.output
