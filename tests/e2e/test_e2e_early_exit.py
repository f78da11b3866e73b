"""A run that stops early exits at once: it does not wait for the journal read's git calls.

A plan reads the journal of recent writes from the git remote on a thread of its own, while
the specs are validated. An invalid spec ends the run before that read is wanted; waiting for
a remote that does not answer would hold the exit for the git call's whole timeout.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.apply.lease.git import GIT_TIMEOUT_SECONDS
from tests.support.repos import TEST_OWNER
from tests.watch.watch_support import child_env

RECONCILE = Path(sys.executable).parent / "reconcile"


@pytest.fixture
def silent_remote() -> Iterator[str]:
    """A git remote over HTTP that takes connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/repo.git"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_an_invalid_spec_exits_without_waiting_for_a_silent_git_remote(
    tmp_path: Path, silent_remote: str
) -> None:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", silent_remote], check=True)
    (repo / "reconciler.yaml").write_text(f"owner: {TEST_OWNER}\n", encoding="utf-8")
    (repo / "specs" / "a.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FineTune\nname: a\nprovider: segmind\n",
        encoding="utf-8",
    )
    run = subprocess.Popen(
        [str(RECONCILE), "plan"],
        cwd=repo,
        env=child_env({"GIT_TERMINAL_PROMPT": "0"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Half the git call's timeout: an exit that waited for the read would come after it.
        _, errors = run.communicate(timeout=GIT_TIMEOUT_SECONDS / 2)
    except subprocess.TimeoutExpired:
        run.kill()
        run.communicate()
        pytest.fail("the run waited for the git remote after its specs were found invalid")
    assert run.returncode == 1
    assert "missing required field `base_model`" in errors
    assert "Traceback" not in errors and "Fatal Python error" not in errors
