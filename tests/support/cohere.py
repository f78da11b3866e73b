"""Cohere test helpers shared by the contract suite and the quirk tests."""

from __future__ import annotations

import httpx

from reconcile_sandbox.testing import RunningSandbox


class ValidationClock(httpx.BaseTransport):
    """Moves the sandbox's clock on before each look at a dataset, so that the validation
    Cohere runs after an upload (seconds of simulated time) ends after a few looks, without
    real waiting."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.inner = httpx.HTTPTransport()
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/cohere/v1/datasets/"):
            self.sandbox.control.advance_clock(3)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
