"""The committed tree: what the daemon applies in a git checkout (DESIGN, principle 8).

Git is the source of truth: an edit saved but not committed is only previewed, and what is
applied is HEAD. ``GitCheckout.open`` finds out whether the repository root is in a git work
tree with a commit: the top of one, or a folder inside one (a monorepo's ``finetunes/``). A
folder named ``.git`` is not enough: tests and plain folders may hold an empty one, which git
does not recognise. ``head()`` says which commit is checked out; ``ref_paths()`` and
``is_ref_path()`` name the files whose changes mean HEAD may have moved (watched beside the
work tree); ``uncommitted()`` says whether the files as saved differ from HEAD;
``snapshot(sha)`` writes that commit's tree (the root's folder of it) into
``<root>/.reconcile/committed/`` and returns it.

The snapshot is written with a private index (``.reconcile/committed.index``) and
``git read-tree --reset -u``: only the files that differ from the previous snapshot (or were
changed in the snapshot by hand) are rewritten, deleted ones are removed, git's checkout
filters (such as Git LFS) apply, and the repository's own index, work tree and metadata are
never touched (no ``git worktree``, which would register itself in ``.git/worktrees``). Files
in the snapshot that the commit does not hold (left there by hand, or by an interrupted
snapshot) are removed: nothing but the commit may stand in for it. git runs through
``reconciler.watch.git``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.specs.cache import state_folder_problem
from reconciler.watch.git import GitError, run_git

# Reading HEAD and writing a snapshot take milliseconds; a minute covers a slow disk and a
# first snapshot of a large tree (or Git LFS fetching its objects).
GIT_TIMEOUT_SECONDS = 60.0
SNAPSHOT_DIR = "committed"
SNAPSHOT_INDEX = "committed.index"
# Keeps the whole state folder, and so the snapshot, out of `git status` and `git add -A` in
# the checkout even when the repository's .gitignore does not name `.reconcile/`: a snapshot
# committed by accident would be a second copy of every spec.
STATE_IGNORE = "# written by reconcile --watch: nothing here belongs in git\n*\n"
# Files under the git directory whose change may mean HEAD moved (a commit, a checkout, a pull).
REF_FILES = ("HEAD", "packed-refs", "ORIG_HEAD", "FETCH_HEAD")
REF_DIRS = ("refs", "logs")


def _git(root: Path, *args: str, env: dict[str, str] | None = None, strip: bool = True) -> str:
    return run_git(root, *args, timeout=GIT_TIMEOUT_SECONDS, env=env, strip=strip)


@dataclass(frozen=True)
class GitCheckout:
    """The repository root ``root``, in a git work tree with at least one commit: the work
    tree's top, or its folder ``prefix`` (``""`` at the top); and its git directories."""

    root: Path
    prefix: str
    git_dir: Path
    common_dir: Path

    @classmethod
    def open(cls, root: Path) -> GitCheckout | None:
        """The checkout holding ``root``; ``None`` when ``root`` is in no git work tree with a
        commit, when git cannot be run, or when ``root`` holds a ``.git`` of its own that git
        does not recognise (a marker folder, not a repository)."""
        root = root.resolve()
        try:
            top = Path(_git(root, "rev-parse", "--show-toplevel")).resolve()
            _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
            git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir"))
            common = Path(_git(root, "rev-parse", "--git-common-dir"))
        except GitError:
            return None
        if top != root and (os.path.lexists(root / ".git") or not root.is_relative_to(top)):
            return None
        prefix = root.relative_to(top).as_posix() if top != root else ""
        common_dir = common if common.is_absolute() else (root / common).resolve()
        return cls(root, "" if prefix == "." else prefix, git_dir, common_dir)

    def head(self) -> str:
        """The commit checked out (its full sha)."""
        return _git(self.root, "rev-parse", "--verify", "HEAD^{commit}")

    def ref_paths(self) -> tuple[Path, ...]:
        """The git directories to watch: a change under them may mean HEAD moved."""
        return tuple(dict.fromkeys((self.git_dir, self.common_dir)))

    def is_ref_path(self, path: str) -> bool:
        """Whether a changed ``path`` is one of the files through which HEAD moves."""
        changed = Path(path)
        for base in self.ref_paths():
            try:
                parts = changed.relative_to(base).parts
            except ValueError:
                continue
            if not parts:
                continue
            if parts[0] in REF_FILES and len(parts) == 1:
                return True
            if parts[0] in REF_DIRS:
                return True
        return False

    def uncommitted(self) -> bool:
        """Whether the files under ``root`` as saved differ from HEAD: changed, staged,
        deleted or new (files the repository ignores do not count). Reads only: git's
        optional index refresh is turned off."""
        status = _git(
            self.root,
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--",
            ".",
        )
        return bool(status)

    def snapshot(self, sha: str, state_dir: Path) -> Path:
        """Commit ``sha``'s tree (of ``root``'s folder) in ``<state_dir>/committed/``, with
        only what differs from the last snapshot rewritten; returns that folder. Raises
        ``GitError`` when the commit has no such folder (the root is not committed yet), or
        when the state folder cannot be written (a pulled commit may have made it a link)."""
        problem = state_folder_problem(state_dir)
        if problem is not None:
            raise GitError(str(problem))
        folder = state_dir / SNAPSHOT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        ignore = state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text(STATE_IGNORE, encoding="utf-8")
        tree = f"{sha}:{self.prefix}" if self.prefix else sha
        if self.prefix and self._kind(tree) != "tree":
            raise GitError(
                f"commit {sha[:12]} has no folder {self.prefix}/: commit the repository's"
                " reconciler.yaml and specs there, then the daemon applies them"
            )
        index = {"GIT_INDEX_FILE": str(state_dir / SNAPSHOT_INDEX)}
        _git(self.root, f"--work-tree={folder}", "read-tree", "--reset", "-u", tree, env=index)
        # read-tree restores the files it tracks; a file it does not know of is left alone.
        extra = _git(
            folder,
            f"--git-dir={self.git_dir}",
            f"--work-tree={folder}",
            "ls-files",
            "--others",
            "-z",
            env=index,
            strip=False,
        )
        for name in filter(None, extra.split("\0")):
            _remove_inside(folder, PurePosixPath(name))
        return folder

    def _kind(self, name: str) -> str | None:
        """``name``'s object type (``tree``, ``blob``...), or ``None`` when there is none."""
        try:
            return _git(self.root, "cat-file", "-t", name)
        except GitError:
            return None


def _remove_inside(folder: Path, name: PurePosixPath) -> None:
    """Delete ``folder/name``, a file the snapshot's commit does not hold."""
    if name.is_absolute() or ".." in name.parts:
        return  # git lists paths inside the work tree; anything else is not ours to delete
    (folder / name).unlink(missing_ok=True)
