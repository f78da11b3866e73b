"""Redaction of secrets in text: API keys, Authorization headers and pre-signed URL queries.

Two layers, because neither alone is enough. The process keeps a registry of the secret values
it holds (API keys, the W&B key), registered where they are read, and ``redact`` replaces every
occurrence of them in every form a message may carry them: as written, escaped as Python and JSON
quote them (``\\n``, ``\\xe9``, ``\\u202e``), URL-encoded, and inside base64 (an HTTP Basic header
is base64 of ``user:key``: the whole base64 token goes, at whatever offset the key starts).
Patterns then catch what was never registered: a pre-signed URL's query (its ``X-Amz-Signature``
or ``Signature`` is a credential, so the whole query goes), a URL's ``user:password@``,
``Bearer`` and ``Basic`` tokens, and ``x-api-key`` / ``Authorization`` header values.

Every provider error message and every log line about a request passes through ``redact``.
``RedactingFilter`` does the same for log records of libraries that log URLs (httpx logs every
request's full URL at INFO level); ``install_log_redaction`` attaches it to those loggers.

A URL kept as a value (a job's dataset reference, a spec's ``{url:}`` in a plan file) is kept as
``strip_url_secrets`` leaves it: no query, no fragment, no ``user:password@``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "****"
# Shorter values are too likely to occur by chance in ordinary text to be masked everywhere.
MIN_SECRET_LENGTH = 6

# A base64 run shorter than this could be anything; a key's base64 core is masked only when it
# is at least this long (any key of 9 characters or more gives one at every offset).
_MIN_BASE64_CORE = 8

_lock = threading.Lock()
# Every form of every secret, matched as text: longest first, so that a secret containing
# another is masked whole (sorted when one is registered, not on every redaction).
_secrets: tuple[str, ...] = ()
_base64_cores: frozenset[str] = frozenset()  # base64 of a secret, matched inside a token
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]+=*")
_URLSAFE = str.maketrans("+/", "-_")

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
    (re.compile(r"(?i)\b((?:Bearer|Basic)\s+)[^\s'\",;}]+"), rf"\1{MASK}"),
    # A URL's userinfo (`https://user:password@host`): the password, and the user with it.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@'\"<>]+@"), rf"\1{MASK}@"),
    (re.compile(r"""(?i)\b(x-api-key['"]?\s*[:=]\s*['"]?)[^\s'",;}&]+"""), rf"\1{MASK}"),
    (
        re.compile(
            r"""(?i)\b(authorization['"]?\s*[:=]\s*['"]?)(?!Bearer\s)(?:[a-z]+\s+)?[^\s'",;}&]+"""
        ),
        rf"\1{MASK}",
    ),
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: ``redact`` masks it from now on, in every form it may be
    quoted in (see the module's docstring), in every thread."""
    global _secrets, _base64_cores
    if value is None or len(value) < MIN_SECRET_LENGTH:
        return
    forms = _text_forms(value)
    cores = _base64_forms(value)
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))
        _base64_cores = _base64_cores | cores


def _text_forms(value: str) -> frozenset[str]:
    """``value`` as printed raw, escaped (Python ``repr`` of text and of its UTF-8 bytes, JSON)
    and URL-encoded; its surrounding whitespace stripped too, since a header may quote it so."""
    forms = set()
    for text in {value, value.strip()}:
        utf8 = text.encode()
        forms |= {
            text,
            repr(text)[1:-1],
            repr(utf8)[2:-1],
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            text.encode("unicode_escape").decode("ascii"),
            quote(text, safe=""),
            quote(text),
            quote_plus(text),
        }
    return frozenset(form for form in forms if len(form) >= MIN_SECRET_LENGTH)


def _base64_forms(value: str) -> frozenset[str]:
    """The base64 characters fixed by ``value``'s bytes alone, for each of the three offsets
    (mod 3) it may start at in the encoded bytes, in the standard and URL-safe alphabets."""
    cores = set()
    raw = value.strip().encode()
    for offset in range(3):
        padded = b"\0" * offset + raw
        encoded = base64.b64encode(padded).decode("ascii")
        # The first group of four mixes in bytes before the key; a last partial group, bytes
        # after it. What lies between depends on the key alone.
        core = encoded[4 if offset else 0 : 4 * (len(padded) // 3)]
        if len(core) >= _MIN_BASE64_CORE:
            cores.add(core)
            cores.add(core.translate(_URLSAFE))
    return frozenset(cores)


def _mask_base64(text: str) -> str:
    """``text`` with every base64 token that holds a registered secret replaced by the mask."""

    def mask(match: re.Match[str]) -> str:
        token = match.group(0)
        return MASK if any(core in token for core in _base64_cores) else token

    if not any(core in text for core in _base64_cores):
        return text
    return _BASE64_RUN.sub(mask, text)


def _mask_signed_url(match: re.Match[str]) -> str:
    if _SIGNING_PARAMETER.search(match["query"]):
        return f"{match['base']}?{MASK}"
    return match.group(0)


def redact(text: str) -> str:
    """``text`` with every registered secret and every recognisable credential masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _mask_base64(text)
    text = _SIGNED_URL.sub(_mask_signed_url, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def strip_url_secrets(url: str) -> str:
    """``url`` without its query string and fragment, where pre-signed signatures live, and
    without its ``user:password@``: the form in which a URL is kept in a value or a plan file."""
    url = url.split("#", 1)[0].split("?", 1)[0]
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if separator and "@" in authority:
        return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return url


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
