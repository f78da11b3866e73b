"""Redaction of secrets in text and in log records (``reconciler.redact``)."""

from __future__ import annotations

import logging

import pytest

from reconciler.redact import MASK, RedactingFilter, install_log_redaction, redact, register_secret

SIGNED_PUT = (
    "https://finetune-pipeline.s3.amazonaws.com/uploads/u/1-a.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIA%2F20261124&X-Amz-Date=20261124T000000Z&X-Amz-Expires=3600"
    "&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef0123"
)
SIGNED_GET = "https://b.s3.amazonaws.com/k.safetensors?AWSAccessKeyId=AK&Signature=abc%2B&Expires=9"


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    register_secret("rk-registered-value-1")
    text = "refused key rk-registered-value-1 (and again: xrk-registered-value-1x)"
    assert redact(text) == f"refused key {MASK} (and again: x{MASK}x)"


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret(None)
    assert redact("abc abcdef") == "abc abcdef"


@pytest.mark.parametrize("url", [SIGNED_PUT, SIGNED_GET])
def test_a_signed_url_loses_its_whole_query(url: str) -> None:
    cleaned = redact(f"PUT {url} failed")
    base = url.split("?", 1)[0]
    assert cleaned == f"PUT {base}?{MASK} failed"


def test_an_ordinary_query_is_kept() -> None:
    text = "GET http://127.0.0.1:8000/qubrid/api/v1/fine-tuning/jobs?limit=100&offset=200"
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer sk-live-abcdef", f"Authorization: Bearer {MASK}"),
        ("{'x-api-key': 'sg_12345678'}", f"{{'x-api-key': '{MASK}'}}"),
        ("x-api-key=sg_12345678&y=1", f"x-api-key={MASK}&y=1"),
        ("authorization: Basic dXNlcjpwYXNz", f"authorization: {MASK}"),
        ("X-Amz-Signature=abcdef&X-Amz-Date=1", f"X-Amz-Signature={MASK}&X-Amz-Date=1"),
    ],
)
def test_credential_patterns_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_rewrites_log_records() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: %s", (SIGNED_PUT,), None
    )
    assert RedactingFilter().filter(record)
    assert "X-Amz-Signature" not in record.getMessage()
    assert record.getMessage().endswith(f"?{MASK}")


def test_installed_on_the_httpx_logger(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: one filter per logger
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").info("HTTP Request: PUT %s", SIGNED_PUT)
    assert "deadbeef0123" not in caplog.text and f"?{MASK}" in caplog.text
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("httpx").filters) == 1
