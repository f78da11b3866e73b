"""HTTP shared by the provider adapters: clients, retries, and the one map from failures to errors.

``make_client`` builds an ``httpx.Client`` with timeouts and connection limits (and, for tests,
a transport); every client of the process verifies certificates with one SSL context
(``shared_ssl_context``), built on first use. ``ProviderHttp.send`` performs one logical
request for an adapter:

- any 2xx is a success (the documents give one status per request, none verified: a 201, 202
  or 204 says the request was carried out as much as a 200 does);
- it retries, with exponential backoff and full jitter (tenacity), bounded both in attempts and
  in total time, what is safe to send again: 429 (waiting at least its ``Retry-After``), 408,
  connections that failed before the request went out, and, for idempotent requests, every
  5xx, timeout and dropped connection; and a 409 (a conflict: not carried out) where the
  provider's official SDK retries it, as many times as that SDK does (``conflict_retries``);
- a non-idempotent request (a create, an upload that makes a new dataset) whose connection
  failed after it was sent, that timed out waiting for its answer, or that got any 5xx back
  (a 502, 503 or 504 from a proxy says nothing of whether the service behind it acted) may
  have been carried out: it raises ``OutcomeUnknownError`` instead of being sent again, so the
  caller lists before retrying and a job is never created twice;
- every other status becomes the error tree of ``base.py`` here and nowhere else: 401/403
  ``AuthenticationError`` (naming the environment variable to set), other 4xx
  ``PermanentError``, with the provider's own message taken from its error body (and the
  fields a FastAPI-style ``{"detail": [{"loc", "msg"}]}`` names, as a 422 gives them);
- a 429 with a ``Retry-After`` holds back every request of the provider's client, not only the
  one refused: a rate limit is the account's, and the apply's other workers would only be
  refused in turn. No request of that client starts until the wait is over (capped at the
  policy's ``max_wait``, so one wild header does not stall a run);
- an answer is read up to ``MAX_RESPONSE_BYTES`` (decompressed) and no further: a provider
  that sends more gets a ``PermanentError`` naming the limit, not the process's memory;
- a request that is part of a longer task (every page of a list) may carry a ``Deadline``:
  no attempt starts, no retry waits and no answer is awaited past it.

Nothing that leaves this module (exception messages, log lines) carries a key, an Authorization
header or a pre-signed query: messages are built from the provider's error text and our own
words, passed through ``reconciler.redact``, and httpx's exceptions are not chained (their
context holds the request and its headers).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast
from urllib.parse import quote

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from reconciler import fast_json
from reconciler.config import DEFAULT_RETRY_WAIT, ProviderSettings
from reconciler.core.plan import Upload
from reconciler.core.spec import Provider
from reconciler.datasets.files import DatasetError
from reconciler.datasets.integrity import VerifiedReader
from reconciler.providers.base import (
    AuthenticationError,
    ClientClosedError,
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RetryableError,
)
from reconciler.providers.profiles import PROFILES
from reconciler.redact import install_log_redaction, redact, register_secret

logger = logging.getLogger("reconciler.providers")

USER_AGENT = "reconcile/0.1"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=30.0)


def timeout_reading_for(seconds: float) -> httpx.Timeout:
    """``DEFAULT_TIMEOUT`` with answers awaited for ``seconds`` (``request_timeout``)."""
    return httpx.Timeout(connect=10.0, read=seconds, write=60.0, pool=30.0)


DEFAULT_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=8, keepalive_expiry=30)
# Provider messages are for people; a whole HTML error page is not.
MAX_DETAIL_CHARS = 500
# The most one answer may hold, decompressed. A list page of 1,000 jobs is about a megabyte;
# this leaves room for accounts far larger than any seen, and stops a broken or hostile
# endpoint (or a compression bomb) from taking the machine's memory.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

# Statuses that say the request was not carried out and may be sent again as it is. A 503 is
# not among them: from a proxy or a load balancer, it may come after the service committed.
_NOT_PROCESSED = frozenset({408, 429})
# Any of these is a success (the default of ``ProviderHttp.send``): it was carried out,
# whatever its body says.
SUCCESS = range(200, 300)
CONFLICT = 409
TOO_MANY_REQUESTS = 429
# A FastAPI validation error lists this many fields at most; the rest are counted.
MAX_VALIDATION_FIELDS = 5
# A field's location starts with where it was sent; the body is where fields usually are.
_BODY_LOCATION = "body"
# Failures that happen before any byte of the request reaches the server.
_BEFORE_SENDING: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Failures of our own making (a bad URL, a body longer than its Content-Length): never retried.
_LOCAL_FAULTS: tuple[type[Exception], ...] = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
)
# Headers about how the body travelled; an answer rebuilt from the bytes read has neither.
_BODY_FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long one logical request keeps trying: at most ``attempts`` sends within
    ``total_seconds``, waiting a random time up to ``initial_wait * 2**n`` (capped at
    ``max_wait``) between them, or the provider's ``Retry-After`` plus a little jitter.

    ``sleep`` is how the wait happens (tests pass a recording one); by default the wait ends
    early when the client is closed, and the request then fails with ``ClientClosedError``.
    """

    # Ten attempts: with 30% of requests failing transiently, one request in 170,000 still
    # fails ten times running, so a converge of a few hundred requests comes through (with
    # eight, one converge in fifty did not). The waits add up to 76 s at most.
    attempts: int = 10
    total_seconds: float = 120.0
    initial_wait: float = DEFAULT_RETRY_WAIT  # `retry_wait` in reconciler.yaml
    max_wait: float = 15.0
    sleep: Callable[[float], None] | None = field(default=None, compare=False)


_ssl_context: ssl.SSLContext | None = None
_ssl_context_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """The SSL context every provider client verifies certificates with (httpx's defaults:
    certifi's roots, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), built once, on first use.

    Loading a trust store costs tens of milliseconds and httpx would do it for every client;
    a context is safe to share between clients and threads. The lock makes the clients built
    in parallel at start-up wait for the one context instead of each building its own.
    """
    global _ssl_context
    with _ssl_context_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def make_client(
    *,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    limits: httpx.Limits = DEFAULT_LIMITS,
) -> httpx.Client:
    """An ``httpx.Client`` for one provider (thread-safe; share it between threads)."""
    install_log_redaction()
    return httpx.Client(
        base_url=base_url,
        # A given transport (tests) brings its own connections and needs no context.
        verify=shared_ssl_context() if transport is None else True,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        timeout=timeout,
        limits=limits,
        transport=transport,
        follow_redirects=False,
    )


MessageOf = Callable[[Any], str | None]
"""Extracts the provider's message from its parsed JSON error body (``None`` if absent)."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN guard


_XML_MESSAGE = re.compile(r"<Message>(?P<message>.*?)</Message>", re.DOTALL)


def _field_path(location: Any) -> str | None:
    """``["body", "settings", "hyperparameters", 0]`` -> ``settings.hyperparameters[0]``."""
    if not isinstance(location, list) or not location:
        return None
    parts = location[1:] if location[0] == _BODY_LOCATION and len(location) > 1 else location
    path = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        elif isinstance(part, str):
            path += f".{part}" if path else part
        else:
            return None
    return path or None


def validation_fields(body: Any) -> str | None:
    """The fields of a FastAPI-style validation error (``{"detail": [{"loc": [...], "msg":
    ...}]}``, as a 422 carries it), ``field: message`` joined by ``; ``; ``None`` for any other
    body. Only the location and message are read: the ``input`` echoed may hold a secret."""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if not isinstance(detail, list):
        return None
    fields = []
    for entry in detail:
        if not isinstance(entry, Mapping):
            continue
        message = entry.get("msg")
        if not isinstance(message, str) or not message.strip():
            continue
        path = _field_path(entry.get("loc"))
        fields.append(f"{path}: {message.strip()}" if path else message.strip())
    if not fields:
        return None
    shown = "; ".join(fields[:MAX_VALIDATION_FIELDS])
    more = len(fields) - MAX_VALIDATION_FIELDS
    return f"{shown}; and {more} more" if more > 0 else shown


def response_detail(response: httpx.Response, message_of: MessageOf) -> str:
    """The provider's own words for a failed response (with the fields a validation error
    names), redacted, on one line and kept short."""
    detail: str | None = None
    content_type = response.headers.get("content-type", "")
    try:
        if "json" in content_type:
            body = fast_json.loads(response.content)
            detail = message_of(body)
            fields = validation_fields(body)
            if fields:
                detail = f"{detail}: {fields}" if detail else fields
        elif "xml" in content_type:
            match = _XML_MESSAGE.search(response.text)
            detail = match["message"].strip() if match else None
        elif response.text.strip() and "html" not in content_type:
            detail = response.text.strip()
    except (ValueError, UnicodeDecodeError):
        detail = None
    if not detail:
        detail = response.reason_phrase or f"HTTP {response.status_code}"
    detail = " ".join(str(detail).split())
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + "..."
    return redact(detail)


def _describe_transport_error(error: Exception) -> str:
    text = redact(str(error)) or "no details"
    return f"{type(error).__name__}: {text}"


@dataclass(frozen=True)
class Deadline:
    """When a task of many requests (reading every page of a provider's lists) must be done:
    ``seconds`` after it began, as set by ``setting`` in ``reconciler.yaml``."""

    at: float  # time.monotonic()
    seconds: float
    setting: str

    @classmethod
    def after(cls, seconds: float, setting: str) -> Deadline:
        return cls(time.monotonic() + seconds, seconds, setting)

    def remaining(self) -> float:
        return self.at - time.monotonic()


class _StopAtDeadline(stop_base):
    """Stops retrying when the next wait would end past the deadline (tenacity works out the
    wait before asking whether to stop), and remembers that it did."""

    def __init__(self, deadline: Deadline | None) -> None:
        self.deadline = deadline
        self.stopped = False

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is not None:
            self.stopped = self.deadline.remaining() <= (retry_state.upcoming_sleep or 0.0)
        return self.stopped


class _StopAfterConflicts(stop_base):
    """Stops retrying a 409 once it was sent ``1 + retries`` times: the SDK's bound, lower
    than the policy's, since a conflict that outlasts it is not a passing one."""

    def __init__(self, retries: int) -> None:
        self.retries = retries

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return (
            isinstance(error, RetryableError)
            and error.status == CONFLICT
            and retry_state.attempt_number > self.retries
        )


def _capped(timeout: Mapping[str, float | None], seconds: float) -> dict[str, float]:
    """httpx's per-request timeout dict with no part longer than ``seconds``."""
    return {
        part: seconds if value is None else min(value, seconds) for part, value in timeout.items()
    }


class ProviderHttp:
    """One provider's HTTP: its client, its error body, its key variable and its retries.

    ``key_variables`` names the environment variable(s) a user sets for this provider's key
    (e.g. ``"COHERE_API_KEY (or CO_API_KEY)"``); ``has_key`` false makes every request fail at
    once with an ``AuthenticationError`` saying so, without sending anything.
    """

    def __init__(
        self,
        provider: Provider,
        client: httpx.Client,
        *,
        message_of: MessageOf,
        key_variables: str,
        has_key: bool = True,
        retry: RetryPolicy | None = None,
        conflict_retries: int = 0,
    ) -> None:
        self.provider = provider
        # How many times a 409 is sent again (as the provider's SDK does; 0: never).
        self.conflict_retries = conflict_retries
        self.client = client
        self.message_of = message_of
        self.key_variables = key_variables
        self.has_key = has_key
        self.retry = retry or RetryPolicy()
        self._closed = threading.Event()
        # Until when (monotonic) the provider asked this client to send nothing (a 429's
        # Retry-After): every thread's next request waits for it.
        self._quiet_until = 0.0

    def close(self) -> None:
        """Release the connections, and stop: a request not yet sent, a retry not yet made
        and a retry wait in progress all end in ``ClientClosedError`` (a run that stops while
        lists are still being read does not wait for their pages and retries)."""
        self._closed.set()
        self.client.close()

    @property
    def title(self) -> str:
        return PROFILES[self.provider].title

    def send(
        self,
        build: Callable[[], httpx.Request],
        *,
        what: str,
        idempotent: bool,
        job: str | None = None,
        expect: Collection[int] = SUCCESS,
        passthrough: Collection[int] = (),
        deadline: Deadline | None = None,
    ) -> httpx.Response:
        """Send the request ``build`` makes (called again for each attempt, so a streamed
        body starts over) until it answers a status in ``expect`` or ``passthrough`` (returned
        for the caller to handle), or fails in a way the module docstring says raises.

        ``what`` says what the request does ("listing fine-tunes"), for messages. Past
        ``deadline`` nothing more is tried: ``PermanentError`` names the limit.
        """
        if not self.has_key:
            raise AuthenticationError(
                self.provider,
                f"{what}: no API key is set; set {self.key_variables} to your {self.title} API key",
                job=job,
            )
        policy = self.retry
        stop_at_deadline = _StopAtDeadline(deadline)
        retrying = Retrying(
            stop=stop_any(
                stop_after_attempt(policy.attempts),
                stop_before_delay(policy.total_seconds),
                stop_at_deadline,
                _StopAfterConflicts(self.conflict_retries),
            ),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=self.pause,
            before_sleep=self._log_retry,
            reraise=True,
        )
        started = time.monotonic()
        try:
            return retrying(
                self._attempt,
                build,
                what,
                job,
                idempotent,
                frozenset(expect),
                frozenset(passthrough),
                deadline,
            )
        except RetryableError as error:
            if stop_at_deadline.stopped and deadline is not None:
                raise self._past(deadline, f"{what}: {error.message}", job) from None
            attempts = int(retrying.statistics.get("attempt_number", 1))
            if attempts <= 1 and error.retry_after is None:
                raise
            elapsed = time.monotonic() - started
            gave_up = (
                f"gave up after {attempts} attempt{'s' if attempts > 1 else ''} in {elapsed:.1f} s"
            )
            if error.retry_after is not None and error.retry_after > policy.total_seconds:
                gave_up += f"; the provider asked to wait {error.retry_after:.0f} s"
            raise RetryableError(
                self.provider,
                f"{error.message} ({gave_up}); try again later",
                job=error.job,
                status=error.status,
                retry_after=error.retry_after,
            ) from None

    def _past(self, deadline: Deadline, what: str, job: str | None) -> PermanentError:
        return PermanentError(
            self.provider,
            f"{what}; gave up: the whole task may take {deadline.seconds:g} s"
            f" (`{deadline.setting}` in reconciler.yaml) and that time is up",
            job=job,
        )

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` between attempts or polls: with the policy's ``sleep`` if it has
        one, else until the time is up or the client is closed."""
        if self.retry.sleep is not None:
            self.retry.sleep(seconds)
        else:
            self._closed.wait(seconds)

    def _attempt(
        self,
        build: Callable[[], httpx.Request],
        what: str,
        job: str | None,
        idempotent: bool,
        expect: frozenset[int],
        passthrough: frozenset[int],
        deadline: Deadline | None = None,
    ) -> httpx.Response:
        if self._closed.is_set():
            raise ClientClosedError(
                self.provider, f"{what}: not sent, the run has stopped", job=job
            )
        quiet = self._quiet_until - time.monotonic()
        if quiet > 0:
            self.pause(quiet)
            if self._closed.is_set():
                raise ClientClosedError(
                    self.provider, f"{what}: not sent, the run has stopped", job=job
                )
        request = build()
        if deadline is not None:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise self._past(deadline, f"{what}: not sent", job)
            request.extensions["timeout"] = _capped(request.extensions["timeout"], remaining)
        try:
            response = self._receive(request, what, job, deadline)
        except _BEFORE_SENDING as error:
            raise RetryableError(
                self.provider,
                f"{what}: could not reach {self.title} ({_describe_transport_error(error)})",
                job=job,
            ) from None
        except _LOCAL_FAULTS as error:
            raise PermanentError(
                self.provider,
                f"{what}: the request could not be sent ({_describe_transport_error(error)})",
                job=job,
            ) from None
        except httpx.TransportError as error:
            # Timeouts after connecting, dropped connections, reset streams: the request (or
            # part of it) went out, so the provider may have acted on it.
            described = _describe_transport_error(error)
            if idempotent:
                raise RetryableError(
                    self.provider, f"{what}: the connection failed ({described})", job=job
                ) from None
            raise OutcomeUnknownError(
                self.provider,
                f"{what}: the connection failed after the request was sent ({described}); it"
                " may have been carried out, so list again before retrying",
                job=job,
            ) from None
        status = response.status_code
        if status in expect or status in passthrough:
            return response
        raise self.error_for(response, what=what, job=job, idempotent=idempotent)

    def _receive(
        self, request: httpx.Request, what: str, job: str | None, deadline: Deadline | None
    ) -> httpx.Response:
        """The answer to ``request``, its body read whole but never past ``MAX_RESPONSE_BYTES``
        (decompressed) or ``deadline`` (an answer that trickles in never times out a read);
        transport errors on the way are raised as httpx raises them."""
        response = self.client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                raise self._too_large(what, job)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise self._too_large(what, job)
                if deadline is not None and deadline.remaining() <= 0:
                    raise self._past(deadline, f"{what}: the answer was still coming in", job)
                chunks.append(chunk)
        finally:
            response.close()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _BODY_FRAMING_HEADERS
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(chunks),
            request=request,
            extensions=response.extensions,
        )

    def _too_large(self, what: str, job: str | None) -> PermanentError:
        return PermanentError(
            self.provider,
            f"{what}: the answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB, the"
            f" most reconcile reads from {self.title}; it was not read",
            job=job,
        )

    def error_for(
        self, response: httpx.Response, *, what: str, job: str | None, idempotent: bool
    ) -> ProviderError:
        """The error a failed response stands for (the one status-to-error mapping)."""
        status = response.status_code
        detail = response_detail(response, self.message_of)
        if status == 401:
            return AuthenticationError(
                self.provider,
                f"{what}: the API key was refused ({detail}); set {self.key_variables} to a"
                f" valid {self.title} API key",
                job=job,
                status=status,
            )
        if status == 403:
            return AuthenticationError(
                self.provider,
                f"{what}: the API key is not allowed to do this ({detail}); check that"
                f" {self.key_variables} holds a {self.title} key with access to fine-tuning",
                job=job,
                status=status,
            )
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == TOO_MANY_REQUESTS and retry_after is not None:
            # Read by other threads without a lock: a float is replaced whole, and a request
            # that reads the one before only waits less, as it did before any 429.
            self._quiet_until = max(
                self._quiet_until, time.monotonic() + min(retry_after, self.retry.max_wait)
            )
        # A 409 says the request was not carried out: safe to send again, create or not.
        retried_conflict = status == CONFLICT and self.conflict_retries > 0
        if status in _NOT_PROCESSED or retried_conflict or (status >= 500 and idempotent):
            return RetryableError(
                self.provider, f"{what}: {detail}", job=job, status=status, retry_after=retry_after
            )
        if status >= 500:
            return OutcomeUnknownError(
                self.provider,
                f"{what}: {detail}; the request may have been carried out before the error, so"
                " list again before retrying",
                job=job,
                status=status,
            )
        return PermanentError(self.provider, f"{what}: {detail}", job=job, status=status)

    def _wait(self, state: RetryCallState) -> float:
        policy = self.retry
        backoff = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            # Honour the provider's wait; the jitter keeps parallel workers from returning
            # in one burst.
            return error.retry_after + random.uniform(0.0, policy.initial_wait)
        return float(backoff(state))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.info(
            "%s; retrying in %.1f s (attempt %d of %d)",
            redact(str(error)),
            wait,
            state.attempt_number + 1,
            self.retry.attempts,
        )


def read_json(response: httpx.Response, provider: Provider, what: str, job: str | None) -> Any:
    """The JSON body of a successful answer; ``PermanentError`` when it is not JSON (nested too
    deeply to read included: ``fast_json`` says so with a ``ValueError``)."""
    try:
        return fast_json.loads(response.content)
    except ValueError:
        raise PermanentError(
            provider, f"{what}: the answer is not JSON (HTTP {response.status_code})", job=job
        ) from None


def read_write_answer(
    response: httpx.Response, provider: Provider, what: str, job: str | None
) -> Any:
    """The JSON body of a 2xx answer to a write that makes something (a create, an upload);
    ``OutcomeUnknownError`` when it cannot be read: the provider accepted the write, but what
    it made (its id) is not known, so the caller must look for it, never send it again."""
    try:
        return fast_json.loads(response.content)
    except ValueError:
        raise OutcomeUnknownError(
            provider,
            f"{what}: the provider accepted it (HTTP {response.status_code}) but its answer"
            " cannot be read; list again before retrying",
            job=job,
        ) from None


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO-8601 time (``...Z``, ``+00:00``, or Cohere's ``2024-01-17 20:11:42.9+00:00``);
    ``None`` when absent or unreadable. A time without a zone is taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def text_or_none(value: Any) -> str | None:
    """``value`` when it is a non-empty string (list fields are often null or missing)."""
    return value if isinstance(value, str) and value else None


def path_segment(value: str) -> str:
    """A remote id made safe to stand as one segment of a URL path."""
    return quote(value, safe="")


def provider_api(
    provider: Provider,
    settings: ProviderSettings[Any],
    *,
    key_header: Callable[[str], dict[str, str]],
    message_of: MessageOf,
    key_variables: str,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    conflict_retries: int = 0,
) -> ProviderHttp:
    """The HTTP of one provider's API: its base URL, and its key in the header the API wants
    (``key_header``), registered for redaction before anything can print it; a 409 sent again
    ``conflict_retries`` times (where the provider's SDK does so)."""
    key = settings.api_key.reveal() if settings.api_key else None
    register_secret(key)
    return ProviderHttp(
        provider,
        make_client(
            base_url=settings.base_url,
            headers=key_header(key) if key else None,
            transport=transport,
            timeout=timeout,
        ),
        message_of=message_of,
        key_variables=key_variables,
        has_key=key is not None,
        retry=retry,
        conflict_retries=conflict_retries,
    )


def bearer(key: str) -> dict[str, str]:
    """``Authorization: Bearer <key>`` (Qubrid, Cohere)."""
    return {"Authorization": f"Bearer {key}"}


@contextlib.contextmanager
def planned_file(
    provider: Provider, upload: Upload, *, what: str, job: str | None
) -> Iterator[BinaryIO]:
    """Open an upload's dataset file for a streamed multipart body: refused when its size is
    no longer the one the plan saw, and stopped before its last block when its bytes do not
    have the plan's fingerprint (``reconciler.datasets.integrity``), so the provider never
    receives a whole file other than the one reviewed."""
    path = upload.path
    try:
        handle = path.open("rb")
    except OSError as error:
        raise PermanentError(
            provider, f"{what}: cannot read {path} ({error.strerror})", job=job
        ) from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size != upload.size:
            raise PermanentError(
                provider,
                f"{what}: {path} is {size} bytes now but {upload.size} when it was planned;"
                " plan again",
                job=job,
            )
        try:
            yield cast(BinaryIO, VerifiedReader(handle, path, upload.fingerprint))
        except DatasetError as error:
            raise PermanentError(provider, f"{what}: {error}", job=job) from None
