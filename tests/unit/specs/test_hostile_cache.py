"""Caches never decide: what is under ``.reconcile/`` counts only if this machine wrote it.

A pull request can commit ``.reconcile/validated.json`` (``git add -f``) holding a spec other
than the reviewed YAML, made to look like the real cache (its entry names the exact bytes of the
reviewed file, and its checksum line is right), or commit ``.reconcile`` as a symlink to make
the tool write elsewhere. Here:

- a forged cache, committed or not, is ignored: the plan shows the reviewed YAML;
- a cache sealed on another machine (another key) is ignored too, and the key lives outside the
  repository, made 0600 on first use; a key file others can read is left alone and unused;
- a symlinked ``.reconcile`` (or a folder in it) is never written through;
- ``.reconcile`` carries its own ``.gitignore``, so ``git add -A`` never picks it up;
- the index look that spares a ``git`` process per run still finds a tracked ``.reconcile``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.specs import cache as cache_module
from tests.support.repos import git, mark_repository

HEADER = "apiVersion: reconciler/v1\nkind: FineTune\n"
SEGMIND = (
    HEADER + "name: mascot\nprovider: segmind\nbase_model: FLUX_PRO\n"
    "dataset: {{url: 'https://example.com/mascot.zip'}}\n"
    "instance_prompt: photo of TOK\ntrigger_word: TOK\naccess: {access}\n"
)
QUBRID = (
    HEADER + "name: qa\nprovider: qubrid\nbase_model: m\ndataset: ../datasets/qa.csv\n"
    "task_type: qa\n"
)
CSV = "question,answer\nWhat?,That.\nWhy?,Because.\n"


def run(repo: Path, *args: str, cache_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``reconcile ARGS`` in ``repo`` in a child process, with the cache key under
    ``cache_home`` (default: the test's own ``xdg-cache`` folder)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.endswith(("_API_KEY", "_BASE_URL")) and key != "CO_API_KEY"
    }
    env["XDG_CACHE_HOME"] = str(cache_home or repo.parent / "xdg-cache")
    return subprocess.run(
        [sys.executable, "-c", "from reconciler.cli import main; main()", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def planned_access(repo: Path, **options: Any) -> str:
    """The access the dry run's plan gives the one spec (it creates it on the sandbox)."""
    result = run(repo, "--dry-run", "--sandbox", "-o", "json", **options)
    assert result.returncode == 0, result.stderr
    [change] = json.loads(result.stdout)["changes"]
    access: str = change["desired"]["spec"]["access"]
    return access


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository (no .gitignore of its own) with one public Segmind spec."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    mark_repository(root)
    (root / "specs").mkdir()
    (root / "specs" / "mascot.yaml").write_text(SEGMIND.format(access="public"))
    return root


def cache_file(repo: Path) -> Path:
    return repo / ".reconcile" / "validated.json"


def forge(repo: Path, spec: Path) -> None:
    """Make the cache say that the bytes ``spec`` holds now are the spec it remembers, as an
    attacker would: the entry's sha256 set to those bytes, the checksum line made right."""
    _, _, body = cache_file(repo).read_bytes().partition(b"\n")
    document = json.loads(body)
    document["files"][str(spec.resolve())]["sha256"] = hashlib.sha256(spec.read_bytes()).hexdigest()
    body = json.dumps(document, separators=(",", ":")).encode()
    cache_file(repo).write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)


def reviewed_private_with_a_public_cache(repo: Path) -> None:
    """The cache of the public spec, then the spec made private (the reviewed YAML), then
    the cache forged to stand for the private bytes."""
    spec = repo / "specs" / "mascot.yaml"
    assert run(repo, "validate").returncode == 0
    assert planned_access(repo) == "public"  # the real cache, written by this machine
    spec.write_text(SEGMIND.format(access="private"))
    forge(repo, spec)


# --- A forged cache --------------------------------------------------------------------------


def test_a_forged_cache_committed_with_the_spec_is_not_used(repo: Path) -> None:
    reviewed_private_with_a_public_cache(repo)
    git(repo, "add", "specs", "reconciler.yaml")
    git(repo, "add", "-f", ".reconcile/validated.json")
    git(repo, "commit", "--quiet", "-m", "make it private (and bring a cache)")
    result = run(repo, "--dry-run", "--sandbox", "-o", "json")
    assert result.returncode == 0, result.stderr
    [change] = json.loads(result.stdout)["changes"]
    assert change["desired"]["spec"]["access"] == "private"
    assert "reconcile: warning: .reconcile is tracked by git" in result.stderr


def test_a_forged_cache_that_is_not_committed_is_not_used(repo: Path) -> None:
    reviewed_private_with_a_public_cache(repo)
    assert planned_access(repo) == "private"


def test_a_cache_sealed_on_another_machine_is_not_used(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.datasets import stat_cache

    spec = repo / "specs" / "mascot.yaml"
    machine_a = tmp_path / "machine-a"
    assert planned_access(repo, cache_home=machine_a) == "public"
    spec.write_text(SEGMIND.format(access="private"))
    # Re-sealed under machine A's key: machine A would trust it, machine B must not.
    monkeypatch.setenv("XDG_CACHE_HOME", str(machine_a))
    body = stat_cache.unseal(b"validated", cache_file(repo).read_bytes())
    assert body is not None
    document = json.loads(body)
    document["files"][str(spec.resolve())]["sha256"] = hashlib.sha256(spec.read_bytes()).hexdigest()
    sealed = stat_cache.seal(b"validated", json.dumps(document).encode())
    assert sealed is not None
    cache_file(repo).write_bytes(sealed)
    assert planned_access(repo, cache_home=machine_a) == "public"  # the forgery is well made
    assert planned_access(repo, cache_home=tmp_path / "machine-b") == "private"


# --- The key ---------------------------------------------------------------------------------


def test_the_key_is_made_once_outside_the_repository_readable_by_its_owner_only(
    repo: Path, tmp_path: Path
) -> None:
    assert run(repo, "validate").returncode == 0
    key = tmp_path / "xdg-cache" / "reconcile" / "cache.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes()) == 32
    first = key.read_bytes()
    assert cache_file(repo).is_file()
    assert run(repo, "validate").returncode == 0
    assert key.read_bytes() == first


def test_a_key_others_can_read_is_left_alone_and_no_cache_is_kept(
    repo: Path, tmp_path: Path
) -> None:
    key = tmp_path / "xdg-cache" / "reconcile" / "cache.key"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"k" * 32)
    key.chmod(0o644)
    assert run(repo, "validate").returncode == 0
    assert key.read_bytes() == b"k" * 32
    assert not cache_file(repo).exists()


# --- Never written through a link ------------------------------------------------------------


def test_a_symlinked_state_folder_is_never_written_through(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".reconcile").symlink_to(elsewhere, target_is_directory=True)
    validated = run(repo, "validate")
    assert validated.returncode == 0, validated.stderr
    assert "reconcile: warning: .reconcile is a symlink" in validated.stderr
    planned = run(repo, "--dry-run", "--sandbox")
    assert planned.returncode == 1
    assert ".reconcile:1:1: is a symlink" in planned.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_folder_inside_the_state_folder_is_never_written_through(
    repo: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "datasets").mkdir()
    (repo / "datasets" / "qa.csv").write_text(CSV)
    (repo / "specs" / "qa.yaml").write_text(QUBRID)
    (repo / ".reconcile").mkdir()
    (repo / ".reconcile" / "fingerprints").symlink_to(elsewhere, target_is_directory=True)
    planned = run(repo, "--dry-run", "--sandbox")
    assert planned.returncode == 0, planned.stderr
    assert list(elsewhere.iterdir()) == []


def test_the_state_folder_ignores_itself_in_git(repo: Path) -> None:
    assert run(repo, "--dry-run", "--sandbox").returncode == 0
    assert (repo / ".reconcile" / "validated.json").is_file()
    status = git(repo, "status", "--porcelain", "--untracked-files=all")
    assert ".reconcile" not in status
    assert (repo / ".reconcile" / ".gitignore").read_text().splitlines()[-1] == "*"


# --- Finding a tracked .reconcile cheaply -------------------------------------------------------


@pytest.mark.parametrize("version", ["2", "4"])
def test_a_tracked_state_folder_is_found_in_any_index_version(repo: Path, version: str) -> None:
    (repo / ".github").mkdir()  # sorts just before `.reconcile`: a v4 index shares the dot
    (repo / ".github" / "x.yml").write_text("on: push\n")
    (repo / ".reconcile").mkdir()
    (repo / ".reconcile" / "validated.json").write_text("{}")
    git(repo, "add", "-f", ".github", ".reconcile")
    git(repo, "update-index", "--index-version", version)
    assert cache_module.tracked_by_git(repo / ".reconcile")


def test_an_untracked_state_folder_costs_no_git_process(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "reconciler").mkdir()  # a package named like the tool: no `reconcile/` in it
    (repo / "reconciler" / "x.py").write_text("")
    git(repo, "add", "reconciler")
    (repo / ".reconcile").mkdir()

    def no_git(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("git was asked")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert not cache_module.tracked_by_git(repo / ".reconcile")
