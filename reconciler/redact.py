"""Redaction of secrets in text: API keys, Authorization headers and pre-signed URL queries.

Two layers, because neither alone is enough. The process keeps a registry of the secret values
it holds (API keys, the W&B key), registered where they are read, and ``redact`` replaces every
occurrence of them; patterns then catch what was never registered: a pre-signed URL's query
(its ``X-Amz-Signature`` or ``Signature`` is a credential, so the whole query goes), ``Bearer``
tokens, and ``x-api-key`` / ``Authorization`` header values.

Every provider error message and every log line about a request passes through ``redact``.
``RedactingFilter`` does the same for log records of libraries that log URLs (httpx logs every
request's full URL at INFO level); ``install_log_redaction`` attaches it to those loggers.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "****"
# Shorter values are too likely to occur by chance in ordinary text to be masked everywhere.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()

# A URL whose query carries signing material loses the whole query.
_SIGNED_URL = re.compile(r"""(?P<base>https?://[^\s?#'"<>]+)\?(?P<query>[^\s#'"<>]*)""")
_SIGNING_PARAMETER = re.compile(
    r"(?i)(?:^|&)(?:x-amz-[a-z-]+|signature|awsaccesskeyid|expires|token|key|api_key|sig)="
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Signing parameters outside a recognisable URL (e.g. a query string on its own).
    (
        re.compile(
            r"(?i)\b((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature)=)[^&\s'\"]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(Bearer\s+)[^\s'\",;}]+"), rf"\1{MASK}"),
    (re.compile(r"""(?i)\b(x-api-key['"]?\s*[:=]\s*['"]?)[^\s'",;}&]+"""), rf"\1{MASK}"),
    (
        re.compile(
            r"""(?i)\b(authorization['"]?\s*[:=]\s*['"]?)(?!Bearer\s)(?:[a-z]+\s+)?[^\s'",;}&]+"""
        ),
        rf"\1{MASK}",
    ),
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: ``redact`` masks it from now on, in every thread."""
    global _secrets
    if value is None or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets = _secrets | {value}


def _mask_signed_url(match: re.Match[str]) -> str:
    if _SIGNING_PARAMETER.search(match["query"]):
        return f"{match['base']}?{MASK}"
    return match.group(0)


def redact(text: str) -> str:
    """``text`` with every registered secret and every recognisable credential masked."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _SIGNED_URL.sub(_mask_signed_url, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message through ``redact`` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


# The loggers of the HTTP stack that may mention URLs or headers. A filter on a logger applies
# only to records made through that very logger, so each one is named.
HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)
_installed: set[str] = set()


def install_log_redaction(logger_names: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """Attach one ``RedactingFilter`` to each named logger (idempotent)."""
    with _lock:
        for name in logger_names:
            if name not in _installed:
                logging.getLogger(name).addFilter(RedactingFilter())
                _installed.add(name)
