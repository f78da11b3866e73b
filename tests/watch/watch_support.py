"""Helpers for the daemon's tests: a repository with Segmind specs, a daemon on a thread,
waiting for a condition, and reading what the sandbox holds."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import Settings
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient
from reconciler.providers.http import RetryPolicy
from reconciler.providers.registry import build_client
from reconciler.watch import Daemon, WatchOptions
from reconciler.watch.logs import LOGGER_NAME, EventLog, JsonFormatter
from tests.support.repos import TEST_OWNER, mark_repository

RECONCILE = Path(sys.executable).parent / "reconcile"
# Variables a developer's shell may hold that must never reach a test run.
SCRUBBED = (
    "SEGMIND_API_KEY",
    "QUBRID_API_KEY",
    "COHERE_API_KEY",
    "CO_API_KEY",
    "WANDB_API_KEY",
    "SEGMIND_BASE_URL",
    "QUBRID_BASE_URL",
    "COHERE_BASE_URL",
    "CO_API_URL",
    "RECONCILE_DEBUG",
    "RECONCILE_WEBHOOK_SECRET",
)
# The smallest valid PNG: a 1x1 pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de00000000"
    "49454e44ae426082"
)


def make_repo(root: Path) -> Path:
    """A repository with an empty ``specs/`` and one image dataset (``datasets/fox/``)."""
    mark_repository(root)
    (root / "specs").mkdir()
    folder = root / "datasets" / "fox"
    folder.mkdir(parents=True)
    (folder / "fox-1.png").write_bytes(PNG)
    (folder / "fox-1.txt").write_text("photo of TOK, a plush fox")
    return root


def segmind_spec(name: str, access: str = "private") -> str:
    return (
        "apiVersion: reconciler/v1\nkind: FineTune\n"
        f"name: {name}\nprovider: segmind\nbase_model: FLUX_PRO\n"
        "dataset: ../datasets/fox/\n"
        f"access: {access}\ntrigger_word: TOK\ninstance_prompt: photo of TOK\ntheme: CHARACTER\n"
    )


def write_spec(repo: Path, name: str, access: str = "private") -> Path:
    path = repo / "specs" / f"{name}.yaml"
    path.write_text(segmind_spec(name, access))
    return path


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    context: Callable[[], object] | None = None,
) -> Any:
    """``condition()``'s first truthy value, polling until ``timeout`` seconds pass; on time
    out, the failure shows ``context()`` (e.g. the daemon's log)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            shown = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{shown}")
        time.sleep(0.05)


def segmind_jobs(running: RunningSandbox, name: str | None = None) -> list[dict[str, Any]]:
    store = running.sandbox.store
    if name is None:
        rows = store.query("SELECT * FROM segmind_jobs ORDER BY created_sim")
    else:
        rows = store.query(
            "SELECT * FROM segmind_jobs WHERE name = ? ORDER BY created_sim",
            (f"{TEST_OWNER}--{name}",),  # the remote name carries the owner id
        )
    return [dict(row) for row in rows]


def posts(running: RunningSandbox) -> int:
    """Write requests the sandbox answered since its counters were last cleared."""
    return sum(
        count
        for route, count in running.control.request_counts().items()
        if not route.startswith("GET ")
    )


# Adapters that give up on a failing provider within a second, so an outage fails a run
# quickly (the real policy keeps trying for up to two minutes per request).
QUICK_RETRY = RetryPolicy(attempts=2, total_seconds=1.0, initial_wait=0.05, max_wait=0.1)


def quick_clients(provider: Provider, settings: Settings) -> ProviderClient:
    return build_client(provider, settings, retry=QUICK_RETRY)


class CapturedLog:
    """The daemon's events as JSON lines, captured in memory."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger(f"{LOGGER_NAME}.test.{id(self)}")
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(JsonFormatter())
        self.logger.handlers[:] = [handler]
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def text(self) -> str:
        return self.stream.getvalue()


@contextlib.contextmanager
def daemon_in_thread(
    repo: Path, log: CapturedLog | None = None, *, quick: bool = False, **options: Any
) -> Iterator[Daemon]:
    """A daemon on ``repo`` run on a thread until the block ends; its first run has finished
    when the block starts. ``quick``: adapters that give up on a provider within a second
    (for outages; elsewhere the real retry policy rides out a slow moment of a busy machine)."""
    # These repositories are not git checkouts: saved files apply after a short quiet period.
    settings: dict[str, Any] = {"interval": 60.0, "quiet_period": 0.3, **options}
    daemon = Daemon(
        WatchOptions(**settings),
        log=EventLog(log.logger) if log is not None else EventLog(),
        cwd=repo,
        client_factory=quick_clients if quick else None,
    )
    daemon.open()
    stop = threading.Event()
    worker = threading.Thread(target=daemon.run_until, args=(stop,), daemon=True)
    worker.start()
    try:
        wait_for(lambda: daemon.runs >= 1, 20.0, "the first run")
        assert daemon.wait_until_watching(5.0)
        yield daemon
    finally:
        stop.set()
        daemon.queue.close()
        worker.join(10.0)
        daemon.close()
        assert not worker.is_alive(), "the daemon did not stop"


def child_env(env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return {**base, **env, **(extra or {})}


SECRET = "process-test-webhook-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def descriptor_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn`` that gives the child at most ``limit`` open file descriptors (soft and
    hard, as ``ulimit -n`` in a container would)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return apply


class DaemonProcess:
    """``reconcile --watch`` in a child process, as a user runs it, with ``--listen`` on a free
    port and a webhook secret; ``extra_env`` adds to its environment, ``fd_limit`` caps its
    open file descriptors."""

    def __init__(
        self,
        repo: Path,
        env: dict[str, str],
        *args: str,
        extra_env: Mapping[str, str] | None = None,
        fd_limit: int | None = None,
    ) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(RECONCILE),
                "--watch",
                "--quiet-period",
                "0.3",
                *args,
                "--listen",
                f"127.0.0.1:{self.port}",
            ],
            cwd=repo,
            env=child_env(env, {"RECONCILE_WEBHOOK_SECRET": SECRET, **(extra_env or {})}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=descriptor_limit(fd_limit) if fd_limit is not None else None,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5.0)

    def health(self) -> dict[str, object] | None:
        try:
            document: dict[str, object] = self.http.get("/healthz").json()
        except httpx.HTTPError:
            return None
        return document

    def runs(self) -> int:
        health = self.health()
        return int(str(health["runs"])) if health else 0

    def stop(self) -> tuple[int, str, float]:
        """SIGTERM; the exit code, stderr, and how long the exit took."""
        self.http.close()
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=15)
        return self.process.returncode, stderr, time.monotonic() - started


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found
