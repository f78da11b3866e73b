"""The helpers of ``reconciler.providers.http``, and which failed answers it sends again (the
HTTP paths are tested per adapter against the sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from reconciler.providers.base import (
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RetryableError,
)
from reconciler.providers.http import (
    SUCCESS,
    ProviderHttp,
    RetryPolicy,
    make_client,
    parse_retry_after,
    parse_timestamp,
    read_write_answer,
    response_detail,
    validation_fields,
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

    return _answering(answer, RetryPolicy(sleep=lambda seconds: None)), sent


def _answering(
    answer: Callable[[httpx.Request], httpx.Response], retry: RetryPolicy
) -> ProviderHttp:
    return ProviderHttp(
        "cohere",
        make_client(base_url="http://cohere.test", transport=httpx.MockTransport(answer)),
        message_of=lambda body: None,
        key_variables="COHERE_API_KEY",
        retry=retry,
    )


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


def test_a_429s_retry_after_holds_back_every_request_of_the_client_not_only_its_own() -> None:
    # A rate limit is the account's: the requests of the apply's other workers wait it out too
    # instead of being refused in turn. The recorded pauses are the waits; none really happens,
    # so the provider's 3 s are still ahead when the second request starts.
    answers = iter([(429, {"Retry-After": "3"}), (200, {}), (200, {}), (200, {})])
    pauses: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        status, headers = next(answers)
        return httpx.Response(status, headers=headers, json={"message": "slow down"})

    http = _answering(answer, RetryPolicy(sleep=pauses.append))
    assert _post(http, idempotent=False).status_code == 200  # its own retry waits 3 s and more
    assert len(pauses) == 2 and all(2.9 < pause <= 3.5 for pause in pauses)
    pauses.clear()
    assert _post(http, idempotent=True).status_code == 200  # another request, held back too
    assert len(pauses) == 1 and 2.5 < pauses[0] <= 3.0


def test_a_huge_retry_after_holds_the_client_back_no_longer_than_the_longest_backoff() -> None:
    answers = iter([429, 200])
    pauses: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), headers={"Retry-After": "86400"})

    http = _answering(answer, RetryPolicy(sleep=pauses.append, max_wait=15.0))
    with pytest.raises(RetryableError):
        _post(http, idempotent=True)  # the provider asks for a day: given up at once
    pauses.clear()
    assert _post(http, idempotent=True).status_code == 200
    assert pauses and max(pauses) <= 15.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_read_is_sent_again(status: int) -> None:
    http, sent = _http([status, 200])
    assert _post(http, idempotent=True).status_code == 200
    assert len(sent) == 2


def test_an_unreadable_answer_to_a_write_is_an_unknown_outcome() -> None:
    response = httpx.Response(202, content=b"<html>accepted</html>")
    with pytest.raises(OutcomeUnknownError, match="accepted it \\(HTTP 202\\)"):
        read_write_answer(response, "qubrid", "creating the fine-tuning job", "bot")


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_a_success_by_default(status: int) -> None:
    http, sent = _http([status])
    response = http.send(
        lambda: http.client.build_request("PUT", "/v1/things/1"), what="x", idempotent=True
    )
    assert response.status_code == status
    assert len(sent) == 1


@pytest.mark.parametrize(("retries", "sends"), [(0, 1), (2, 3)])
def test_a_409_is_sent_again_only_as_often_as_the_sdk_does(retries: int, sends: int) -> None:
    http, sent = _http([409] * 10)
    http.conflict_retries = retries
    with pytest.raises(ProviderError) as raised:
        _post(http, idempotent=False)
    assert raised.value.status == 409
    assert isinstance(raised.value, RetryableError if retries else PermanentError)
    assert len(sent) == sends


def test_a_409_then_a_success_goes_through() -> None:
    http, sent = _http([409, 409, 201])
    http.conflict_retries = 2
    assert _post(http, idempotent=False).status_code == 201
    assert len(sent) == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"detail": [{"loc": ["body", "settings", "dataset_id"], "msg": "field required"}]},
            "settings.dataset_id: field required",
        ),
        (
            {"detail": [{"loc": ["query", "limit"], "msg": "too big"}, {"msg": "bad"}]},
            "query.limit: too big; bad",
        ),
        ({"detail": [{"loc": ["body", "items", 2, "x"], "msg": "m"}]}, "items[2].x: m"),
        (
            {"detail": [{"loc": ["body", f"f{n}"], "msg": "m"} for n in range(7)]},
            "f0: m; f1: m; f2: m; f3: m; f4: m; and 2 more",
        ),
        ({"detail": "plain text"}, None),
        ({"detail": [{"loc": ["body"], "input": "secret"}]}, None),
        ([1, 2], None),
    ],
)
def test_validation_fields_of_a_fastapi_error(body: object, expected: str | None) -> None:
    assert validation_fields(body) == expected


def test_a_validation_error_adds_its_fields_to_the_providers_message() -> None:
    body = {"message": "invalid request", "detail": [{"loc": ["body", "name"], "msg": "empty"}]}
    response = httpx.Response(422, json=body)
    assert response_detail(response, lambda b: b.get("message")) == "invalid request: name: empty"
