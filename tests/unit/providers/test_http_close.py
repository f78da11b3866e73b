"""Closing a provider's HTTP stops it: nothing more is sent, and a retry wait ends at once."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from reconciler.providers.base import ClientClosedError
from reconciler.providers.http import ProviderHttp, RetryPolicy, make_client


def provider_http(handler: httpx.MockTransport, retry: RetryPolicy | None = None) -> ProviderHttp:
    return ProviderHttp(
        "qubrid",
        make_client(base_url="http://qubrid.test", transport=handler),
        message_of=lambda body: None,
        key_variables="QUBRID_API_KEY",
        retry=retry,
    )


def test_a_retry_wait_ends_when_the_client_is_closed() -> None:
    sent: list[httpx.Request] = []

    def rate_limited(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(429, headers={"Retry-After": "30"})

    http = provider_http(httpx.MockTransport(rate_limited))
    # Closed from another thread while send() waits out the provider's 30 s Retry-After.
    threading.Timer(0.2, http.close).start()
    started = time.monotonic()
    with pytest.raises(ClientClosedError, match="listing jobs: not sent, the run has stopped"):
        http.send(
            lambda: http.client.build_request("GET", "/jobs"), what="listing jobs", idempotent=True
        )
    assert time.monotonic() - started < 10.0
    assert len(sent) == 1


def test_a_closed_client_sends_nothing() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"data": []})

    http = provider_http(httpx.MockTransport(answer))
    http.close()
    with pytest.raises(ClientClosedError):
        http.send(
            lambda: http.client.build_request("GET", "/jobs"), what="listing jobs", idempotent=True
        )
    assert sent == []


def test_a_policy_with_its_own_sleep_keeps_it() -> None:
    waits: list[float] = []
    answers = iter([httpx.Response(503), httpx.Response(200, json={})])
    http = provider_http(
        httpx.MockTransport(lambda request: next(answers)),
        RetryPolicy(initial_wait=0.01, max_wait=0.02, sleep=waits.append),
    )
    response = http.send(
        lambda: http.client.build_request("GET", "/jobs"), what="listing jobs", idempotent=True
    )
    assert response.status_code == 200
    assert len(waits) == 1
