"""``reconcile sandbox`` as a user starts it: a child process on a free port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def start_sandbox_command(data: Path, *options: str) -> subprocess.Popen[str]:
    """``reconcile sandbox --port 0`` with its state in ``data`` and ``options``; its first
    line on stdout says where it serves. The caller ends it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from reconciler.cli import main; main()",
            "sandbox",
            "--port",
            "0",
            "--data",
            str(data),
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
