"""The pure helpers of ``reconciler.providers.http`` (the HTTP paths are tested per adapter)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.providers.http import parse_retry_after, parse_timestamp

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
