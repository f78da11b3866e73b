"""Repositories for tests: a folder made a repository root whose ``reconciler.yaml`` sets the
owner id every planning command needs."""

from __future__ import annotations

from pathlib import Path

TEST_OWNER = "test-repo"


def mark_repository(root: Path, *, owner: str = TEST_OWNER, config: str = "") -> Path:
    """``root`` as a repository root: a ``.git`` folder (not a real git repository: it has no
    remote, so the writer lease is the local lock file) and a ``reconciler.yaml`` with
    ``owner`` and any further ``config`` lines."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(f"owner: {owner}\n{config}", encoding="utf-8")
    return root
