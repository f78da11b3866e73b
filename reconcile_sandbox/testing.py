"""Starting a sandbox for tests, and driving its control API.

    with start_sandbox(speed=0) as running:
        client = httpx.Client(base_url=running.base_url("segmind"),
                              headers={"x-api-key": running.keys["segmind"]})
        ...
        running.control.advance_clock(600)
        running.control.add_fault(kind="drop", method="POST", path="*/submit", count=1)
        assert running.control.request_counts()["POST /segmind/finetune/request/submit"] == 2

The pytest fixtures built on it are in ``reconcile_sandbox.pytest_plugin``. A program that
embeds the sandbox (``reconcile --sandbox``) needs none of this: ``server.start_in_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from reconcile_sandbox.app import SandboxConfig
from reconcile_sandbox.provider import Provider
from reconcile_sandbox.server import ServerThread, exports, start_in_thread
from reconcile_sandbox.store import Store


class SandboxControl:
    """Helpers over the control API (``/_sandbox/``); ``.http`` is the raw httpx client."""

    def __init__(self, root_url: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=f"{root_url}/_sandbox", timeout=timeout)

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code >= 400:
            raise SandboxControlError(f"{method} /_sandbox{path}: {response.text}")
        return response.json()

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/")
        return result

    def reset(self, provider: str | None = None) -> None:
        self._call("POST", "/reset", {"provider": provider} if provider else {})

    def now(self) -> float:
        return float(self._call("GET", "/clock")["now"])

    def advance_clock(self, seconds: float) -> float:
        """Move simulated time (and pre-signed URL expiry time) forward; returns the new time."""
        return float(self._call("POST", "/clock/advance", {"seconds": seconds})["now"])

    def set_speed(self, speed: float) -> None:
        self._call("PUT", "/clock", {"speed": speed})

    def set_variants(self, **values: str) -> None:
        """Take these readings of the open questions, e.g. ``**{"qubrid.offset": "ignored"}``;
        a reset of the provider brings back the ones the sandbox started with."""
        self._call("PUT", "/variants", values)

    def variants(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._call("GET", "/variants")["variants"]
        return result

    def set_latencies(self, **seconds: float) -> None:
        """Set how long kinds that settle take, in simulated seconds, e.g.
        ``**{"cohere.datasets": 4}``; a reset of the provider brings back the start's."""
        self._call("PUT", "/latencies", seconds)

    def latencies(self) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = self._call("GET", "/latencies")["latencies"]
        return result

    def add_fault(self, **rule: Any) -> int:
        """Add a fault rule (fields as in ``reconcile_sandbox.faults``); returns its id."""
        return int(self._call("POST", "/faults", rule)["id"])

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return result

    def remove_fault(self, rule_id: int) -> None:
        """Remove one rule; requests its ``slow`` kind is holding go on at once."""
        self._call("DELETE", f"/faults/{rule_id}")

    def clear_faults(self, provider: str | None = None) -> None:
        self._call("DELETE", f"/faults?provider={provider}" if provider else "/faults")

    def request_counts(self) -> dict[str, int]:
        """Requests per ``"METHOD /route/template"`` since the last reset."""
        result: dict[str, int] = self._call("GET", "/requests")["counts"]
        return result

    def request_log(self, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/requests/log?limit={limit}")["requests"]
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def seed(self, provider: str, count: int, **options: Any) -> int:
        return int(
            self._call("POST", f"/{provider}/seed", {"count": count, "options": options})["seeded"]
        )

    def get(self, provider: str, kind: str, object_id: str) -> dict[str, Any]:
        """``{"row": stored columns, "state": {"status", "error_message", ...} or None}``."""
        result: dict[str, Any] = self._call("GET", f"/{provider}/{kind}/{object_id}")
        return result

    def set_fields(self, provider: str, kind: str, object_id: str, **fields: Any) -> dict[str, Any]:
        """Change stored columns out of band, as a user would in the provider's console."""
        result: dict[str, Any] = self._call(
            "PATCH", f"/{provider}/{kind}/{object_id}", {"fields": fields}
        )
        return result

    def advance(
        self,
        provider: str,
        kind: str,
        object_id: str,
        *,
        seconds: float | None = None,
        to: str | None = None,
    ) -> dict[str, Any]:
        """Push one object along its lifecycle by ``seconds``, or until status ``to``."""
        body: dict[str, Any] = {"to": to} if to is not None else {"seconds": seconds}
        result: dict[str, Any] = self._call("POST", f"/{provider}/{kind}/{object_id}/advance", body)
        return result

    def fail(
        self, provider: str, kind: str, object_id: str, message: str, in_seconds: float = 0.0
    ) -> dict[str, Any]:
        """Make an object fail now (or after ``in_seconds`` simulated seconds) with ``message``."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/{provider}/{kind}/{object_id}/fail",
            {"message": message, "in_seconds": in_seconds},
        )
        return result

    def close(self) -> None:
        self.http.close()


class SandboxControlError(RuntimeError):
    """The control API refused a call (the message carries its answer)."""


class RunningSandbox:
    """A sandbox served on a thread: where to reach it, its keys, and its control API."""

    def __init__(self, server: ServerThread) -> None:
        self._server = server
        self.url = server.root_url
        self.keys: dict[str, str] = server.keys
        self.control = SandboxControl(self.url)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def sandbox(self) -> Any:
        """The in-process ``Sandbox`` (for tests that inspect state directly)."""
        return self._server.sandbox

    def base_url(self, provider: str) -> str:
        """E.g. ``http://127.0.0.1:PORT/segmind``: what ``SEGMIND_BASE_URL`` should be."""
        return self._server.base_url(provider)

    def env(self) -> dict[str, str]:
        """Environment variables pointing clients at this sandbox (base URLs and keys)."""
        return dict(exports(self._server.sandbox, self.url))

    def stop(self) -> None:
        self.control.close()
        self._server.stop()


@contextmanager
def start_sandbox(
    *,
    data_dir: Path | None = None,
    speed: float = 0.0,
    keys: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    providers: Sequence[Provider] | None = None,
    variants: Mapping[str, str] | None = None,
    latencies: Mapping[str, float] | None = None,
) -> Iterator[RunningSandbox]:
    """Serve a sandbox on a free port for the duration of the ``with`` block.

    ``data_dir=None`` keeps state in memory. ``speed=0`` (the default here) freezes simulated
    time so tests move it explicitly; pass a positive speed for jobs that progress by themselves.
    ``variants``: readings of the documents' open questions to start with (``variants.py``);
    ``latencies``: how long kinds that settle take, in simulated seconds (``latencies.py``).
    """
    config = SandboxConfig(
        data_dir=data_dir,
        speed=speed,
        keys=dict(keys or {}),
        variants=dict(variants or {}),
        latencies=dict(latencies or {}),
    )
    running = RunningSandbox(start_in_thread(config, host=host, port=port, providers=providers))
    try:
        yield running
    finally:
        running.stop()


def pretend_stopped_earlier(data_dir: Path, seconds: float) -> None:
    """Make the stopped sandbox whose state is in ``data_dir`` look as if it had stopped
    ``seconds`` real seconds earlier than it did, so that when it opens again its clock has
    run on through that gap (at the speed it was saved with): a test's stand-in for waiting."""
    if seconds < 0:
        raise ValueError(f"a gap cannot be negative; got {seconds} seconds")
    with closing(Store.in_folder(data_dir)) as store:
        anchor = store.load_clock()
        if anchor is None:
            raise ValueError(f"no sandbox clock is saved in {data_dir}")
        store.save_clock(replace(anchor, real=anchor.real - seconds))
