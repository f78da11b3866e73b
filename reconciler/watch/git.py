"""Running git for the daemon: one way, with no prompt and a timeout.

Every git call of the daemon (reading HEAD, writing the committed tree's snapshot, ``--pull``)
goes through ``run_git``: no terminal prompt (a remote asking for credentials fails instead of
hanging the daemon), ``LC_ALL=C``, a timeout, no repository or index named by variables the
daemon inherited (``GIT_DIR``... set by a git hook), and git's own words passed through
``redact`` and cut short before they reach a message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reconciler.redact import redact

# Enough of git's message to say what went wrong, never a whole transcript in a log line.
MAX_MESSAGE_CHARS = 500
# Variables that would point git at another repository, work tree or index than the one a
# call names (a daemon started from a git hook inherits them): the daemon says which, always.
INHERITED_LOCATIONS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)


class GitError(Exception):
    """git failed, timed out or could not be run; the message says what it said."""


def run_git(
    root: Path,
    *args: str,
    timeout: float,
    env: dict[str, str] | None = None,
    strip: bool = True,
) -> str:
    """``git -C root args...``'s output (``strip``: without surrounding whitespace; keep it
    for ``-z`` lists, whose names may start with a space); ``GitError`` when it fails."""
    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed (or not on PATH)")
    environment = {
        **{k: v for k, v in os.environ.items() if k not in INHERITED_LOCATIONS},
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "true",
        "LC_ALL": "C",
        **(env or {}),
    }
    try:
        done = subprocess.run(  # noqa: S603 (fixed git arguments; root is the checkout)
            [git, "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {timeout:.0f} s") from None
    except OSError as error:
        raise GitError(f"cannot run git: {error.strerror or error}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise GitError(redact_short(said))
    return done.stdout.strip() if strip else done.stdout


def redact_short(text: str) -> str:
    """git's words fit for a log line: redacted, cut short."""
    return redact(text)[:MAX_MESSAGE_CHARS]
