"""Serving the sandbox with uvicorn: in the foreground (``reconcile sandbox``) or in a thread.

``serve_forever`` prints the environment to export and serves until Ctrl-C.
``start_in_thread`` serves on a background thread (tests, ``reconcile --sandbox``) and returns
a ``ServerThread`` that knows its port, each provider's base URL and key, and stops cleanly:
all that an embedding program such as ``reconcile --sandbox`` needs.

uvicorn's access log stays off: request lines would carry pre-signed URLs, whose query string is
a credential. uvicorn uses httptools and uvloop when they are installed (``http="auto"``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import uvicorn

from reconcile_sandbox.app import Sandbox, SandboxConfig, create_app
from reconcile_sandbox.provider import Provider

_STARTUP_TIMEOUT_SECONDS = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 lets the system pick a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it small responses stall ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(sandbox: Sandbox) -> uvicorn.Config:
    return uvicorn.Config(
        sandbox.asgi,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Keep-alive long enough that a benchmark's pooled connections are not recycled.
        timeout_keep_alive=30,
    )


def exports(sandbox: Sandbox, root_url: str) -> list[tuple[str, str]]:
    """``(variable, value)`` pairs pointing clients at the sandbox."""
    pairs: list[tuple[str, str]] = []
    for name, provider in sandbox.providers.items():
        base_url = f"{root_url}{provider.mount}"
        pairs.extend((variable, base_url) for variable in provider.base_url_env)
        pairs.extend((variable, sandbox.key(name)) for variable in provider.api_key_env)
    return pairs


def serve_forever(config: SandboxConfig, host: str, port: int) -> None:
    """Serve a sandbox of ``config`` in the foreground until interrupted, printing what to
    export first. Raises ``VariantError`` or ``LatencyError`` for a variant or a latency in
    ``config`` the sandbox does not know (``variants.py``, ``latencies.py``)."""
    sandbox = create_app(config)
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    root_url = f"http://{_url_host(host)}:{bound_port}"
    print(
        f"# reconcile sandbox: serving on {root_url} (state in {config.data_dir},"
        f" speed {config.speed}x)"
    )
    print("# Point clients at it:")
    for variable, value in exports(sandbox, root_url):
        print(f"export {variable}={value}")
    print(f"# Control API: {root_url}/_sandbox/  (Ctrl-C to stop)", flush=True)
    server = uvicorn.Server(_uvicorn_config(sandbox))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        sandbox.close()


@dataclass
class ServerThread:
    """A sandbox served on a background thread."""

    sandbox: Sandbox
    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread
    _socket: socket.socket

    @property
    def root_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    @property
    def keys(self) -> dict[str, str]:
        """The API key each emulated provider accepts, by provider name."""
        return self.sandbox.keys

    def base_url(self, provider: str) -> str:
        """E.g. ``http://127.0.0.1:PORT/segmind``: what ``SEGMIND_BASE_URL`` should be."""
        return f"{self.root_url}{self.sandbox.providers[provider].mount}"

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the database. Idempotent."""
        self._server.should_exit = True
        self._thread.join(timeout=_STARTUP_TIMEOUT_SECONDS)
        with contextlib.suppress(OSError):
            self._socket.close()
        self.sandbox.close()


def start_in_thread(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    providers: Sequence[Provider] | None = None,
) -> ServerThread:
    """Serve a new sandbox on a daemon thread; returns once it accepts connections."""
    sandbox = create_app(config, providers)
    sock = bind_socket(host, port)
    server = uvicorn.Server(_uvicorn_config(sandbox))
    # uvicorn installs signal handlers only on the main thread, so a thread server is safe.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="reconcile-sandbox", daemon=True
    )
    thread.start()
    deadline = threading.Event()
    waited = 0.0
    while not server.started:
        if not thread.is_alive():
            sock.close()
            sandbox.close()
            raise RuntimeError("the sandbox server failed to start (see the log above)")
        if waited > _STARTUP_TIMEOUT_SECONDS:
            server.should_exit = True
            raise RuntimeError("the sandbox server did not start within 10 seconds")
        deadline.wait(0.01)
        waited += 0.01
    return ServerThread(sandbox, host, sock.getsockname()[1], server, thread, sock)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):  # noqa: S104 (only to print a reachable URL)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
