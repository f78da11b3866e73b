"""The writer lease as a value: who holds it, until when, and the caller's journal.

This module owns the lease record and its JSON form (``lease.json``), and nothing else: no
I/O, no clock. The record is read from a medium that anyone with push access to the
repository can write, so ``LeaseRecord.from_json`` trusts nothing: it caps the size, checks
every field's type and range, and turns anything malformed into a ``LeaseRecordError`` with
a message that names the problem (never the offending text, which may hold terminal escapes).
Text that came from a record reaches a terminal only through ``Holder.describe``, which
escapes control characters.

Format (``format_version`` 1)::

    {"expires_at": 1796472121.5, "format_version": 1,
     "holder": {"ci_url": null, "command": "reconcile apply", "host": "host-a",
                "id": "<uuid4 hex>", "pid": 123, "started_at": 1796472001.0},
     "journal": {...}}

``holder`` and ``expires_at`` are both null once the lease is released. Fields a reader does
not know are ignored, so a field can be added without a new version; an incompatible change
raises ``format_version``, which older readers refuse with a request to upgrade.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

FORMAT_VERSION = 1
# A journal is a short list of recent writes; a record this large is an attack or a bug, and
# refusing it up front keeps a hostile record from costing memory and time on every read.
MAX_RECORD_BYTES = 8 * 1024 * 1024
# Epoch seconds up to the end of year 9999: anything later cannot be formatted as a date.
MAX_TIMESTAMP = 253402300799.0
# Caps on the holder's text fields: enough for any real value, small enough for one message line.
MAX_ID_CHARS = 128
MAX_HOST_CHARS = 255
MAX_COMMAND_CHARS = 1000
MAX_URL_CHARS = 2048
# Process ids are positive and fit in a C int (``os.kill`` refuses larger ones).
MAX_PID = 2**31 - 1


class LeaseError(Exception):
    """Anything about the writer lease (the tree is written down in ``lease.store``)."""


class LeaseRecordError(LeaseError):
    """A lease record that cannot be read (malformed, too large, too new) or written.

    ``repairable`` says whether removing the record is the fix: false when the record is
    well-formed but was written by a newer reconcile, which must be upgraded instead.
    """

    def __init__(self, message: str, *, repairable: bool = True) -> None:
        super().__init__(message)
        self.repairable = repairable


def format_utc(epoch: float) -> str:
    """``epoch`` as ``2026-12-05T12:00:01Z``, for messages."""
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{epoch!r} (epoch seconds)"


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe for one line of a terminal: control characters escaped, length capped."""
    cleaned = "".join(
        character if character.isprintable() else repr(character)[1:-1] for character in text
    )
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def github_actions_run_url(environ: Mapping[str, str]) -> str | None:
    """The URL of the GitHub Actions run this process belongs to, or None outside one."""
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    if not repository or not run_id:
        return None
    server = environ.get("GITHUB_SERVER_URL", "").rstrip("/") or "https://github.com"
    return f"{server}/{repository}/actions/runs/{run_id}"[:MAX_URL_CHARS]


@dataclass(frozen=True)
class Holder:
    """Who holds the lease. ``id`` is unique per lease-taking; the rest is for people (and
    ``host``/``pid`` for noticing a dead holder on the same machine)."""

    id: str
    host: str
    pid: int
    command: str
    started_at: float
    ci_url: str | None = None

    @classmethod
    def current(cls, command: str, environ: Mapping[str, str] = os.environ) -> Holder:
        """A new holder for this process, about to run ``command``."""
        return cls(
            id=uuid.uuid4().hex,
            # Capped (and never empty) here, not refused: another machine must be able to
            # read what we write.
            host=socket.gethostname()[:MAX_HOST_CHARS] or "unknown-host",
            pid=os.getpid(),
            command=command[:MAX_COMMAND_CHARS] or "reconcile",
            started_at=time.time(),
            ci_url=github_actions_run_url(environ),
        )

    def describe(self) -> str:
        """Human text, e.g. "`reconcile apply` (process 123 on host-a, since 2026-12-05T12:00:01Z;
        GitHub Actions run https://github.com/o/r/actions/runs/1)"."""
        where = f"process {self.pid} on {printable(self.host)}, since {format_utc(self.started_at)}"
        if self.ci_url:
            where += f"; GitHub Actions run {printable(self.ci_url, 300)}"
        return f"`{printable(self.command)}` ({where})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ci_url": self.ci_url,
            "command": self.command,
            "host": self.host,
            "id": self.id,
            "pid": self.pid,
            "started_at": self.started_at,
        }


@dataclass(frozen=True)
class LeaseRecord:
    """The content of the lease: ``holder`` None means released (and then ``expires_at`` is
    None too). ``journal`` is an opaque JSON object owned by the caller, carried from holder
    to holder; treat it as immutable."""

    holder: Holder | None
    expires_at: float | None
    journal: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if (self.holder is None) != (self.expires_at is None):
            raise LeaseRecordError(
                "a lease record has a holder and an expiry, or neither (released)"
            )

    def to_json(self) -> bytes:
        """The canonical JSON form (sorted keys, no spaces, ASCII)."""
        payload = {
            "expires_at": self.expires_at,
            "format_version": self.format_version,
            "holder": None if self.holder is None else self.holder.to_dict(),
            "journal": dict(self.journal),
        }
        try:
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as error:
            raise LeaseRecordError(f"the lease journal is not plain JSON: {error}") from None
        data = text.encode("ascii")
        # Checked on the way out as on the way in: a record we could write but nobody could
        # read would lock every writer out.
        if len(data) > MAX_RECORD_BYTES:
            raise LeaseRecordError(
                f"the lease record would be {len(data)} bytes, over the {MAX_RECORD_BYTES}"
                " byte limit: keep the journal to recent writes only"
            )
        return data

    @classmethod
    def from_json(cls, data: bytes) -> LeaseRecord:
        """Parse a record; raises ``LeaseRecordError`` for anything malformed or too new."""
        if len(data) > MAX_RECORD_BYTES:
            raise LeaseRecordError(
                f"the lease record is {len(data)} bytes, over the {MAX_RECORD_BYTES} byte limit"
            )
        try:
            document = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:
            # JSONDecodeError says where, never what: the text itself is untrusted.
            reason = error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__
            raise LeaseRecordError(f"the lease record is not valid JSON ({reason})") from None
        if not isinstance(document, dict):
            raise LeaseRecordError("the lease record is not a JSON object")
        version = document.get("format_version")
        if not _is_int(version) or version < 1:
            raise LeaseRecordError("the lease record has no valid `format_version`")
        if version > FORMAT_VERSION:
            raise LeaseRecordError(
                f"the lease record was written by a newer reconcile (record format {version};"
                f" this one reads format {FORMAT_VERSION}): upgrade reconcile",
                repairable=False,
            )
        raw_holder = document.get("holder")
        if raw_holder is not None and not isinstance(raw_holder, dict):
            raise LeaseRecordError("the lease record's `holder` is not an object or null")
        raw_expiry = document.get("expires_at")
        journal = document.get("journal", {})
        if not isinstance(journal, dict):
            raise LeaseRecordError("the lease record's `journal` is not a JSON object")
        return cls(
            holder=None if raw_holder is None else _holder_from_json(raw_holder),
            expires_at=None if raw_expiry is None else _timestamp(raw_expiry, "expires_at"),
            journal=journal,
            format_version=version,
        )


def is_expired(record: LeaseRecord, now: float) -> bool:
    """Whether a held lease's expiry has passed at ``now``; a released lease never expires
    (it is free, which is a different state)."""
    return record.expires_at is not None and now >= record.expires_at


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number in JSON")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _timestamp(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LeaseRecordError(f"the lease record's `{name}` is not a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    # Written this way round so that NaN fails too.
    if not 0.0 <= number <= MAX_TIMESTAMP:
        raise LeaseRecordError(f"the lease record's `{name}` is not a time between 1970 and 9999")
    return number


def _text(document: Mapping[str, Any], name: str, limit: int) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise LeaseRecordError(f"the lease holder's `{name}` is not a non-empty string")
    if len(value) > limit:
        raise LeaseRecordError(f"the lease holder's `{name}` is longer than {limit} characters")
    return value


def _holder_from_json(document: Mapping[str, Any]) -> Holder:
    pid = document.get("pid")
    if not _is_int(pid) or not 0 < pid <= MAX_PID:
        raise LeaseRecordError("the lease holder's `pid` is not a process id")
    ci_url = document.get("ci_url")
    if ci_url is not None:
        ci_url = _text(document, "ci_url", MAX_URL_CHARS)
    return Holder(
        id=_text(document, "id", MAX_ID_CHARS),
        host=_text(document, "host", MAX_HOST_CHARS),
        pid=pid,
        command=_text(document, "command", MAX_COMMAND_CHARS),
        started_at=_timestamp(document.get("started_at"), "holder.started_at"),
        ci_url=ci_url,
    )
