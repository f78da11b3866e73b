"""Repositories for tests: a folder made a repository root whose ``reconciler.yaml`` sets the
owner id every planning command needs, and real git repositories with a remote on disk."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

TEST_OWNER = "test-repo"


# Cohere's validation is looked at this often in tests (the sandbox validates in simulated
# seconds): the default, two real seconds, would be most of a test's time.
TEST_COHERE_POLL = "providers:\n  cohere: {validation_poll: 0.05}\n"


def mark_repository(
    root: Path, *, owner: str = TEST_OWNER, config: str = "", providers: str = TEST_COHERE_POLL
) -> Path:
    """``root`` as a repository root: a ``.git`` folder (not a real git repository: it has no
    remote, so the writer lease is the local lock file) and a ``reconciler.yaml`` with
    ``owner``, the ``providers`` section (by default, a quick Cohere validation poll) and any
    further ``config`` lines."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(f"owner: {owner}\n{providers}{config}", encoding="utf-8")
    return root


# Git for tests: no user or system configuration, an identity for the commits tests make.
GIT_ENVIRONMENT = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (failing the test when git fails); its output, stripped."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENVIRONMENT},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def published(
    tmp_path: Path, fill: Callable[[Path], None], *, clones: int = 2
) -> tuple[Path, list[Path]]:
    """A bare repository on disk (as a git host would hold it) whose main branch has one
    commit of what ``fill`` writes into a folder, and ``clones`` clones of it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(bare), str(seed))
    fill(seed)
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "the specs")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    copies = []
    for number in range(1, clones + 1):
        clone = tmp_path / f"clone-{number}"
        git(tmp_path, "clone", "--quiet", str(bare), str(clone))
        copies.append(clone)
    return bare, copies
