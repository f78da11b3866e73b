"""The helpers of ``reconciler.providers.http``, and which failed answers it sends again (the
HTTP paths are tested per adapter against the sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from reconciler.providers.base import OutcomeUnknownError
from reconciler.providers.http import (
    SUCCESS,
    ProviderHttp,
    RetryPolicy,
    make_client,
    parse_retry_after,
    parse_timestamp,
    read_write_answer,
)

NOW = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        (" 7 ", 7.0),
        ("-5", 0.0),
        ("Tue, 24 Nov 2026 22:00:30 GMT", 30.0),
        ("Tue, 24 Nov 2026 21:59:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T22:31:00Z", datetime(2026, 11, 24, 22, 31, tzinfo=UTC)),
        ("2024-01-17 20:11:42.907112+00:00", datetime(2024, 1, 17, 20, 11, 42, 907112, tzinfo=UTC)),
        ("2026-11-24T22:31:00", datetime(2026, 11, 24, 22, 31, tzinfo=UTC)),
        ("yesterday", None),
        (None, None),
        (12, None),
    ],
)
def test_timestamps_of_every_provider(text: object, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


# --- which answers may be sent again ---------------------------------------------------------


def _http(answers: list[int]) -> tuple[ProviderHttp, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    statuses = iter(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(next(statuses), json={"message": "busy"})

    http = ProviderHttp(
        "cohere",
        make_client(base_url="http://cohere.test", transport=httpx.MockTransport(answer)),
        message_of=lambda body: None,
        key_variables="COHERE_API_KEY",
        retry=RetryPolicy(sleep=lambda seconds: None),
    )
    return http, sent


def _post(http: ProviderHttp, *, idempotent: bool) -> httpx.Response:
    return http.send(
        lambda: http.client.build_request("POST", "/v1/things"),
        what="making a thing",
        idempotent=idempotent,
        expect=SUCCESS,
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_create_is_an_unknown_outcome_sent_once(status: int) -> None:
    http, sent = _http([status, 200])
    with pytest.raises(OutcomeUnknownError, match=f"HTTP {status}"):
        _post(http, idempotent=False)
    assert len(sent) == 1


@pytest.mark.parametrize("status", [408, 429])
def test_a_request_the_provider_says_it_did_not_process_is_sent_again(status: int) -> None:
    http, sent = _http([status, 201])
    assert _post(http, idempotent=False).status_code == 201
    assert len(sent) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_read_is_sent_again(status: int) -> None:
    http, sent = _http([status, 200])
    assert _post(http, idempotent=True).status_code == 200
    assert len(sent) == 2


def test_an_unreadable_answer_to_a_write_is_an_unknown_outcome() -> None:
    response = httpx.Response(202, content=b"<html>accepted</html>")
    with pytest.raises(OutcomeUnknownError, match="accepted it \\(HTTP 202\\)"):
        read_write_answer(response, "qubrid", "creating the fine-tuning job", "bot")
