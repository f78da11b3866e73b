"""Redaction of a registered key in every form a message may carry it: escaped, URL-encoded,
inside base64 at any offset (HTTP Basic is base64 of ``user:key``), and URL userinfo."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from reconciler.redact import MASK, redact, register_secret

KEY = "sk-SENTINEL/redact+key=0001"


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_secret(KEY)


@pytest.mark.parametrize(
    "form",
    [
        quote(KEY, safe=""),
        quote(KEY),
        quote_plus(KEY),
        json.dumps(KEY),
        repr(KEY.encode()),
    ],
)
def test_escaped_and_url_encoded_forms_are_masked(form: str) -> None:
    text = redact(f"provider said: unknown key {form} (check it)")
    assert "SENTINEL" not in text
    assert MASK in text


@pytest.mark.parametrize("user", ["", "u", "us", "user", "api", "x-access-token"])
def test_base64_of_user_colon_key_is_masked_at_every_offset(user: str) -> None:
    for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
        token = alphabet(f"{user}:{KEY}".encode()).decode()
        text = redact(f"sent Basic {token}; echoed token={token}")
        assert token not in text, (user, text)
        assert "Basic ****" in text


def test_base64_of_a_key_followed_by_more_bytes_is_masked() -> None:
    token = base64.b64encode(f'{{"key": "{KEY}", "x": 1}}'.encode()).decode()
    assert token not in redact(f"blob {token}")


def test_a_urls_userinfo_is_masked() -> None:
    text = redact("fetching https://alice:hunter2-password@data.example/x.jsonl failed")
    assert "hunter2" not in text and "alice" not in text
    assert "https://****@data.example/x.jsonl" in text


def test_ordinary_text_is_left_alone() -> None:
    text = "listing fine-tunes (page 2): HTTP 503 from https://api.example/v1/jobs?page=2"
    assert redact(text) == text
