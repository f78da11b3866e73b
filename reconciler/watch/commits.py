"""The committed tree: what the daemon applies in a git checkout (DESIGN, principle 8).

Git is the source of truth: an edit saved but not committed is only previewed, and what is
applied is HEAD. ``GitCheckout.open`` finds out whether the repository root is a git work tree
with a commit (a folder named ``.git`` is not enough: tests and plain folders may have one
empty); ``head()`` says which commit is checked out; ``ref_paths()`` are the files whose changes
mean a commit may have moved HEAD (watched beside the work tree); ``snapshot(sha)`` writes that
commit's tree into ``<root>/.reconcile/committed/`` and returns it.

The snapshot is written with a private index (``.reconcile/committed.index``) and
``git read-tree --reset -u``: only the files that differ from the previous snapshot are
rewritten, deleted ones are removed, git's checkout filters (such as Git LFS) apply, and the
repository's own index, work tree and metadata are never touched (no ``git worktree``, which
would register itself in ``.git/worktrees``). git runs through ``reconciler.watch.git``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.watch.git import GitError, run_git

GIT_TIMEOUT_SECONDS = 60.0
SNAPSHOT_DIR = "committed"
SNAPSHOT_INDEX = "committed.index"
# Files under the git directory whose change may mean HEAD moved (a commit, a checkout, a pull).
REF_FILES = ("HEAD", "packed-refs", "ORIG_HEAD", "FETCH_HEAD")
REF_DIRS = ("refs", "logs")


def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return run_git(root, *args, timeout=GIT_TIMEOUT_SECONDS, env=env)


@dataclass(frozen=True)
class GitCheckout:
    """A git work tree at ``root`` with at least one commit, and its git directories."""

    root: Path
    git_dir: Path
    common_dir: Path

    @classmethod
    def open(cls, root: Path) -> GitCheckout | None:
        """The checkout whose work tree's top is ``root``; ``None`` when ``root`` is not the
        top of a git work tree with a commit (or git cannot be run)."""
        try:
            top = _git(root, "rev-parse", "--show-toplevel")
            if Path(top).resolve() != root.resolve():
                return None
            _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
            git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir"))
            common = Path(_git(root, "rev-parse", "--git-common-dir"))
        except GitError:
            return None
        common_dir = common if common.is_absolute() else (root / common).resolve()
        return cls(root.resolve(), git_dir, common_dir)

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
                relative = changed.relative_to(base)
            except ValueError:
                continue
            parts = relative.parts
            if not parts:
                continue
            if parts[0] in REF_FILES and len(parts) == 1:
                return True
            if parts[0] in REF_DIRS:
                return True
        return False

    def snapshot(self, sha: str, state_dir: Path) -> Path:
        """Commit ``sha``'s tree in ``<state_dir>/committed/`` (only what changed since the
        last snapshot is rewritten); returns that folder."""
        folder = state_dir / SNAPSHOT_DIR
        folder.mkdir(parents=True, exist_ok=True)
        index = state_dir / SNAPSHOT_INDEX
        _git(
            self.root,
            f"--work-tree={folder}",
            "read-tree",
            "--reset",
            "-u",
            sha,
            env={"GIT_INDEX_FILE": str(index)},
        )
        return folder
