"""The committed tree's parts, on real git repositories: which roots are git checkouts (a
marker ``.git`` folder is not one; a monorepo's folder is), the snapshot of HEAD (incremental,
the repository's own index and metadata untouched, hand edits undone), and whether the files
as saved differ from HEAD."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.watch.commits import SNAPSHOT_DIR, GitCheckout
from reconciler.watch.git import GitError
from tests.support.repos import git, mark_repository


def committed(root: Path, files: dict[str, str]) -> Path:
    """A git repository at ``root`` with one commit of ``files`` (path: text)."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    write(root, files)
    commit(root, "one")
    return root


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", message)
    return git(root, "rev-parse", "HEAD")


def checkout_of(root: Path) -> GitCheckout:
    opened = GitCheckout.open(root)
    assert opened is not None
    return opened


SPECS = {f"specs/fox-{n}.yaml": f"name: fox-{n}\n" for n in range(50)}


def test_a_marker_git_folder_or_a_repository_without_a_commit_is_not_a_checkout(
    tmp_path: Path,
) -> None:
    assert GitCheckout.open(mark_repository(tmp_path / "marked")) is None
    (tmp_path / "fresh").mkdir()
    git(tmp_path / "fresh", "init", "--quiet")
    assert GitCheckout.open(tmp_path / "fresh") is None
    root = committed(tmp_path / "repo", {"reconciler.yaml": "owner: x\n"})
    opened = checkout_of(root)
    assert opened.prefix == ""
    assert opened.git_dir == (root / ".git").resolve()


def test_a_folder_of_a_monorepo_is_a_checkout_of_that_folder(tmp_path: Path) -> None:
    top = committed(
        tmp_path / "mono",
        {"app/main.py": "", "ml/reconciler.yaml": "owner: x\n", "ml/specs/a.yaml": "a\n"},
    )
    opened = checkout_of(top / "ml")
    assert opened.prefix == "ml"
    folder = opened.snapshot(opened.head(), top / "ml" / ".reconcile")
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "reconciler.yaml",
        "specs/a.yaml",
    ]
    # A folder with a .git marker of its own that git does not recognise is not part of it.
    assert GitCheckout.open(mark_repository(top / "marked")) is None


def test_a_root_not_yet_committed_cannot_be_applied(tmp_path: Path) -> None:
    top = committed(tmp_path / "mono", {"app/main.py": ""})
    write(top, {"ml/reconciler.yaml": "owner: x\n"})
    opened = checkout_of(top / "ml")
    with pytest.raises(GitError, match="has no folder ml/: commit"):
        opened.snapshot(opened.head(), top / "ml" / ".reconcile")


def test_the_snapshot_rewrites_only_what_a_commit_changed_and_leaves_the_repository_alone(
    tmp_path: Path,
) -> None:
    root = committed(tmp_path / "repo", {"reconciler.yaml": "owner: x\n", **SPECS})
    opened = checkout_of(root)
    state = root / ".reconcile"
    folder = opened.snapshot(opened.head(), state)
    assert folder == state / SNAPSHOT_DIR
    before = {p.name: p.stat() for p in (folder / "specs").iterdir()}
    index = (root / ".git" / "index").read_bytes()
    metadata = sorted(p.name for p in (root / ".git").iterdir())

    time.sleep(0.05)  # a rewritten file would show a later mtime
    (root / "specs" / "fox-1.yaml").write_text("name: fox-1\naccess: public\n")
    (root / "specs" / "fox-2.yaml").unlink()
    sha = commit(root, "two")
    index = (root / ".git" / "index").read_bytes()  # git commit refreshed it; we must not
    started = time.perf_counter()
    opened.snapshot(sha, state)
    took = time.perf_counter() - started

    after = {p.name: p.stat() for p in (folder / "specs").iterdir()}
    assert (folder / "specs" / "fox-1.yaml").read_text().endswith("access: public\n")
    assert "fox-2.yaml" not in after
    rewritten = {
        name
        for name, stat in after.items()
        if (stat.st_ino, stat.st_mtime_ns) != (before[name].st_ino, before[name].st_mtime_ns)
    }
    assert rewritten == {"fox-1.yaml"}
    assert took < 2.0  # milliseconds in practice (bench_watch prints it); never the whole tree
    assert (root / ".git" / "index").read_bytes() == index
    assert sorted(p.name for p in (root / ".git").iterdir()) == metadata  # no worktrees/
    # The snapshot is out of `git status` even though the repository ignores nothing.
    assert git(root, "status", "--porcelain") == ""


def test_hand_edits_in_the_snapshot_are_undone(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {"reconciler.yaml": "owner: x\n", **SPECS})
    opened = checkout_of(root)
    folder = opened.snapshot(opened.head(), root / ".reconcile")
    (folder / "specs" / "fox-1.yaml").write_text("name: edited-by-hand\n")
    (folder / "specs" / "fox-3.yaml").unlink()
    (folder / "specs" / "never-committed.yaml").write_text("name: sneaked-in\n")
    (folder / "specs" / " leading space.yaml").write_text("name: sneaked-in\n")
    opened.snapshot(opened.head(), root / ".reconcile")
    assert (folder / "specs" / "fox-1.yaml").read_text() == "name: fox-1\n"
    assert (folder / "specs" / "fox-3.yaml").exists()
    assert not (folder / "specs" / "never-committed.yaml").exists()
    assert not (folder / "specs" / " leading space.yaml").exists()


def test_uncommitted_says_whether_the_saved_files_differ_from_head(tmp_path: Path) -> None:
    root = committed(
        tmp_path / "repo", {".gitignore": "*.log\n", "reconciler.yaml": "owner: x\n", **SPECS}
    )
    opened = checkout_of(root)
    assert not opened.uncommitted()
    (root / "build.log").write_text("ignored\n")
    (root / "specs" / "fox-1.yaml").write_text("name: fox-1\n")  # saved again, unchanged
    assert not opened.uncommitted()
    (root / "specs" / "new.yaml").write_text("name: new\n")
    assert opened.uncommitted()
    (root / "specs" / "new.yaml").unlink()
    (root / "specs" / "fox-1.yaml").write_text("name: fox-one\n")
    assert opened.uncommitted()


def test_head_moves_are_told_from_the_ref_files(tmp_path: Path) -> None:
    root = committed(tmp_path / "repo", {"reconciler.yaml": "owner: x\n"})
    opened = checkout_of(root)
    git_dir = root / ".git"
    for moved in ("HEAD", "packed-refs", "refs/heads/main", "logs/HEAD"):
        assert opened.is_ref_path(str(git_dir / moved)), moved
    for unrelated in ("index", "objects/ab/cdef", "config", "COMMIT_EDITMSG"):
        assert not opened.is_ref_path(str(git_dir / unrelated)), unrelated
    assert not opened.is_ref_path(str(root / "specs" / "HEAD"))


def test_git_variables_inherited_from_a_hook_do_not_redirect_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = committed(tmp_path / "repo", {"reconciler.yaml": "owner: x\n"})
    other = committed(tmp_path / "other", {"unrelated.txt": "x\n"})
    head = git(root, "rev-parse", "HEAD")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    opened = checkout_of(root)
    assert opened.head() == head
    folder = opened.snapshot(opened.head(), root / ".reconcile")
    assert (folder / "reconciler.yaml").exists()
    assert not (folder / "unrelated.txt").exists()
