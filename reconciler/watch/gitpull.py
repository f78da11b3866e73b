"""``--pull``: fast-forward the checkout from its remote before a resync.

``git pull --ff-only`` either moves the working tree to the remote's commit or leaves it
untouched, so a failed pull (network, diverged history, a conflict with local edits) keeps the
last good checkout in use. The command runs without a terminal prompt and with a timeout, so a
remote asking for credentials fails instead of hanging the daemon.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reconciler.redact import redact

PULL_TIMEOUT_SECONDS = 60.0
# Enough of git's message to say what went wrong, never a whole transcript in a log line.
MAX_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class PullResult:
    ok: bool
    changed: bool
    message: str


def _git(root: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise OSError("git is not installed (or not on PATH)")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    return subprocess.run(  # noqa: S603 (fixed git arguments; root is the checkout we watch)
        [git, "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _head(root: Path, timeout: float) -> str | None:
    result = _git(root, "rev-parse", "HEAD", timeout=timeout)
    return result.stdout.strip() if result.returncode == 0 else None


def pull_checkout(root: Path, timeout: float = PULL_TIMEOUT_SECONDS) -> PullResult:
    """Fast-forward ``root`` from its upstream; never raises for git's own failures."""
    try:
        before = _head(root, timeout)
        result = _git(root, "pull", "--ff-only", "--quiet", timeout=timeout)
        if result.returncode != 0:
            text = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
            return PullResult(False, False, redact(text)[:MAX_MESSAGE_CHARS])
        after = _head(root, timeout)
    except subprocess.TimeoutExpired:
        return PullResult(False, False, f"git pull did not finish within {timeout:.0f} s")
    except OSError as error:
        return PullResult(False, False, f"cannot run git: {error.strerror or error}")
    changed = before != after
    return PullResult(True, changed, f"now at {after[:12]}" if after and changed else "up to date")
