"""``--pull``: fast-forward the checkout from its remote before a resync.

``git pull --ff-only`` either moves the working tree to the remote's commit or leaves it
untouched, so a failed pull (network, diverged history, a conflict with local edits) keeps the
last good checkout in use. The command runs without a terminal prompt and with a timeout, so a
remote asking for credentials fails instead of hanging the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.watch.git import GitError, run_git

PULL_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class PullResult:
    ok: bool
    changed: bool
    message: str


def pull_checkout(root: Path, timeout: float = PULL_TIMEOUT_SECONDS) -> PullResult:
    """Fast-forward ``root`` from its upstream; never raises for git's own failures."""
    try:
        before = run_git(root, "rev-parse", "HEAD", timeout=timeout)
        run_git(root, "pull", "--ff-only", "--quiet", timeout=timeout)
        after = run_git(root, "rev-parse", "HEAD", timeout=timeout)
    except GitError as error:
        return PullResult(False, False, str(error))
    changed = before != after
    return PullResult(True, changed, f"now at {after[:12]}" if changed else "up to date")
