"""Provider clients share one SSL context, built once, with certificate verification on."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from reconciler.providers import http


def test_clients_share_one_verifying_context(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[ssl.SSLContext] = []
    original = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = original(*args, **kwargs)
        built.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setattr(http, "_ssl_context", None)
    clients = [
        http.make_client(base_url=f"https://{name}.example.invalid") for name in ("a", "b", "c")
    ]
    for client in clients:
        client.close()

    assert len(built) == 1
    context = http.shared_ssl_context()
    assert context is built[0]
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
