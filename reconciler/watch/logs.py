"""The daemon's log: one line per event, for people (``text``) or log shippers (``json``).

Every line is an *event* (``run.finished``, ``job.transition``, ``pull.failed``...) with a
human message and a few fields. ``json`` writes one object per line with ``time``, ``level``,
``event``, ``message`` and the fields. Every line passes through ``reconciler.redact`` before
it is written, so no key, bearer token or pre-signed URL query reaches the log. Messages and
fields carry provider text and file names: ``text`` shows them escaped as
``reconciler.sanitize.one_line`` does (an escape sequence, a line break or a bidi control
cannot drive the viewer or forge an entry); ``json`` writes ASCII, those characters escaped.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from reconciler.redact import install_log_redaction, redact
from reconciler.sanitize import json_dumps, one_line

LOGGER_NAME = "reconciler.watch"
LogFormat = Literal["text", "json"]


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


class TextFormatter(logging.Formatter):
    """``2026-11-24T23:14:10.123Z INFO  run.finished: converged (result=success ...)``."""

    def format(self, record: logging.LogRecord) -> str:
        event = one_line(str(getattr(record, "event", record.name)))
        fields = " ".join(
            f"{one_line(str(key))}={one_line(str(value))}" for key, value in _fields(record).items()
        )
        message = one_line(record.getMessage())
        line = f"{_timestamp(record)} {record.levelname:<7} {event}: {message}"
        return redact(f"{line} ({fields})" if fields else line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, message, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            document.setdefault(key, value)
        return redact(json_dumps(document, default=str))


class EventLog:
    """Writes the daemon's events through the ``reconciler.watch`` logger."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(LOGGER_NAME)

    def event(self, level: int, event: str, message: str, **fields: Any) -> None:
        self._logger.log(level, message, extra={"event": event, "fields": fields})

    def info(self, event: str, message: str, **fields: Any) -> None:
        self.event(logging.INFO, event, message, **fields)

    def warning(self, event: str, message: str, **fields: Any) -> None:
        self.event(logging.WARNING, event, message, **fields)

    def error(self, event: str, message: str, **fields: Any) -> None:
        self.event(logging.ERROR, event, message, **fields)


def configure_logging(log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send the daemon's events to ``stream`` (stderr) in ``log_format``; quiet the HTTP
    stack, whose per-request lines are noise at a resync every minute."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    install_log_redaction()
    for name in ("httpx", "httpcore", "watchfiles"):
        logging.getLogger(name).setLevel(logging.WARNING)
