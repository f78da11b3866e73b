"""The lease record: round trips, and every malformed record refused with a clear message."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest

from reconciler.apply.lease.record import (
    MAX_RECORD_BYTES,
    Holder,
    LeaseRecord,
    LeaseRecordError,
    is_expired,
)

HOLDER = Holder(
    id="0123456789abcdef0123456789abcdef",
    host="host-a",
    pid=123,
    command="reconcile apply --prune",
    started_at=1796472001.0,
    ci_url="https://github.com/acme/specs/actions/runs/42",
)


def record_json(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "format_version": 1,
        "holder": HOLDER.to_dict(),
        "expires_at": 1796472121.5,
        "journal": {},
    }
    document.update(changes)
    return json.dumps(document).encode()


def test_a_held_record_round_trips_through_canonical_json() -> None:
    record = LeaseRecord(
        holder=HOLDER,
        expires_at=1796472121.5,
        journal={"creates": [{"provider": "segmind", "name": "mascot-v1", "at": 1.5}]},
    )
    data = record.to_json()
    assert LeaseRecord.from_json(data) == record
    # Canonical: sorted keys, no spaces, so the same record is the same bytes everywhere.
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    assert data.startswith(b'{"expires_at":1796472121.5,"format_version":1,"holder":{')


def test_a_released_record_keeps_its_journal() -> None:
    record = LeaseRecord(holder=None, expires_at=None, journal={"k": [1, 2]})
    parsed = LeaseRecord.from_json(record.to_json())
    assert parsed.holder is None
    assert parsed.expires_at is None
    assert parsed.journal == {"k": [1, 2]}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    holder = {**HOLDER.to_dict(), "region": "eu"}
    parsed = LeaseRecord.from_json(record_json(holder=holder, comment="added later"))
    assert parsed.holder == HOLDER


def test_holder_current_describes_this_process_and_its_github_actions_run() -> None:
    environ = {
        "GITHUB_SERVER_URL": "https://github.example.com",
        "GITHUB_REPOSITORY": "acme/specs",
        "GITHUB_RUN_ID": "987",
    }
    holder = Holder.current("reconcile apply", environ)
    assert holder.pid == os.getpid()
    assert holder.host == socket.gethostname()
    assert len(holder.id) == 32
    assert holder.ci_url == "https://github.example.com/acme/specs/actions/runs/987"
    assert Holder.current("reconcile apply", environ).id != holder.id
    assert Holder.current("reconcile apply", {}).ci_url is None


def test_describe_names_command_process_host_time_and_run() -> None:
    assert HOLDER.describe() == (
        "`reconcile apply --prune` (process 123 on host-a, since 2026-12-05T12:00:01Z;"
        " GitHub Actions run https://github.com/acme/specs/actions/runs/42)"
    )


def test_describe_escapes_control_characters_from_a_hostile_record() -> None:
    holder = {**HOLDER.to_dict(), "host": "evil\x1b[2J\u202ehost", "command": "x\ny"}
    parsed = LeaseRecord.from_json(record_json(holder=holder))
    assert parsed.holder is not None
    text = parsed.holder.describe()
    assert "\x1b" not in text and "\n" not in text and "\u202e" not in text
    assert "evil\\x1b[2J\\u202ehost" in text


def test_is_expired_only_for_a_held_record_past_its_expiry() -> None:
    held = LeaseRecord(holder=HOLDER, expires_at=100.0)
    assert not is_expired(held, 99.9)
    assert is_expired(held, 100.0)
    assert not is_expired(LeaseRecord(holder=None, expires_at=None), 1e12)


def test_a_holder_without_expiry_is_not_a_record() -> None:
    with pytest.raises(LeaseRecordError, match="a holder and an expiry, or neither"):
        LeaseRecord(holder=HOLDER, expires_at=None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
        (b"{'single': 'quotes'}", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (record_json(expires_at=float("nan")), "not valid JSON"),
        (record_json(expires_at=None), "a holder and an expiry, or neither"),
        (record_json(format_version="1"), "no valid `format_version`"),
        (record_json(format_version=0), "no valid `format_version`"),
        (record_json(format_version=True), "no valid `format_version`"),
        (record_json(holder=[1]), "`holder` is not an object or null"),
        (record_json(holder={**HOLDER.to_dict(), "pid": 0}), "`pid` is not a process id"),
        (record_json(holder={**HOLDER.to_dict(), "pid": 2**40}), "`pid` is not a process id"),
        (record_json(holder={**HOLDER.to_dict(), "pid": True}), "`pid` is not a process id"),
        (record_json(holder={**HOLDER.to_dict(), "id": ""}), "`id` is not a non-empty string"),
        (record_json(holder={**HOLDER.to_dict(), "host": 7}), "`host` is not a non-empty string"),
        (record_json(holder={**HOLDER.to_dict(), "command": "x" * 1001}), "longer than 1000"),
        (record_json(holder={**HOLDER.to_dict(), "started_at": "noon"}), "is not a number"),
        (record_json(expires_at=-1), "not a time between 1970 and 9999"),
        (record_json(expires_at=10**30), "not a time between 1970 and 9999"),
        (record_json(expires_at="soon"), "`expires_at` is not a number"),
        (record_json(journal=[]), "`journal` is not a JSON object"),
    ],
)
def test_malformed_records_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(LeaseRecordError, match=message) as caught:
        LeaseRecord.from_json(data)
    assert caught.value.repairable


def test_a_record_from_a_newer_reconcile_asks_for_an_upgrade() -> None:
    with pytest.raises(LeaseRecordError, match=r"newer reconcile.*format 2.*upgrade") as caught:
        LeaseRecord.from_json(record_json(format_version=2, holder={"new": "shape"}))
    assert not caught.value.repairable


def test_an_oversized_record_is_refused_before_parsing() -> None:
    data = b'{"pad": "' + b"x" * MAX_RECORD_BYTES + b'"}'
    with pytest.raises(LeaseRecordError, match="over the 8388608 byte limit"):
        LeaseRecord.from_json(data)


def test_a_journal_too_large_to_read_back_is_refused_on_write() -> None:
    record = LeaseRecord(holder=None, expires_at=None, journal={"pad": "x" * MAX_RECORD_BYTES})
    with pytest.raises(LeaseRecordError, match="keep the journal to recent writes"):
        record.to_json()


@pytest.mark.parametrize("journal", [{"t": {1, 2}}, {"n": float("inf")}, {"o": object()}])
def test_a_journal_that_is_not_plain_json_is_refused_on_write(journal: dict[str, Any]) -> None:
    with pytest.raises(LeaseRecordError, match="not plain JSON"):
        LeaseRecord(holder=None, expires_at=None, journal=journal).to_json()
