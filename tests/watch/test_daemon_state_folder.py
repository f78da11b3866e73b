"""The daemon and a ``.reconcile`` that is a symlink (a commit can hold one): it refuses to
start, naming the link, and its snapshot of a pulled commit never writes through one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.watch.commits import GitCheckout
from reconciler.watch.git import GitError
from tests.support.repos import git
from tests.watch.watch_support import RECONCILE, child_env, make_repo


def test_the_daemon_refuses_a_symlinked_state_folder_by_name(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / ".reconcile").symlink_to(outside)
    done = subprocess.run(
        [str(RECONCILE), "--watch", "--interval", "5"],
        cwd=repo,
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert ".reconcile:1:1: is a symlink" in done.stderr
    assert list(outside.iterdir()) == []


def test_a_snapshot_never_writes_through_a_symlinked_state_folder(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "reconciler.yaml").write_text("owner: x\n")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "one")
    checkout = GitCheckout.open(root)
    assert checkout is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / ".reconcile").symlink_to(outside)
    with pytest.raises(GitError, match="is a symlink"):
        checkout.snapshot(git(root, "rev-parse", "HEAD"), root / ".reconcile")
    assert list(outside.iterdir()) == []
