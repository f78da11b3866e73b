"""Posting a notification to the webhook: httpx, a short timeout, a few tries.

A webhook that fails never fails what sent it (an apply, the daemon, ``status --wait``): the
failure is said through ``warn``, naming the webhook by its scheme and host only, since the
URL's path (a Slack webhook's) or query is its credential. The URL is registered with
``redact`` when the sender is made, so no log or message shows it whole either. Tries: a
refused connection, a timeout, a 429 or a 5xx is tried again, up to ``ATTEMPTS`` in all, after
``retry_wait`` seconds, doubled each time; another answer (a 4xx: the URL is wrong) is final.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from reconciler.redact import register_secret

TIMEOUT = 5.0
ATTEMPTS = 3
DEFAULT_RETRY_WAIT = 1.0
_CONTENT_TYPE = {"Content-Type": "application/json"}


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's URL, or None. A URL that parses here is one that
    ``shown`` can name and httpx can post to (a port that is no number, or a broken IPv6
    host, would otherwise raise out of a round)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError when it is not a port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return "it is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "it is not an http(s) URL"
    return None


def shown(url: str) -> str:
    """The webhook as messages name it: scheme and host, never its path or query."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class WebhookSender:
    """Posts bodies to one webhook URL."""

    def __init__(
        self,
        url: str,
        *,
        warn: Callable[[str], None],
        retry_wait: float = DEFAULT_RETRY_WAIT,
    ) -> None:
        register_secret(url)
        self._url = url
        self._warn = warn
        self._retry_wait = retry_wait
        # No redirects: a webhook that answers 3xx is misconfigured, and following it would
        # carry the body to a host nobody named. Its own trust store (tens of ms), not
        # providers.http's shared one (notify reaches no provider module, .importlinter):
        # loaded once a process, since the daemon keeps its notifier while notify: stays.
        self._client = httpx.Client(timeout=TIMEOUT, follow_redirects=False)

    def send(self, body: bytes, what: str) -> bool:
        """Post ``body``; whether the webhook took it (2xx). ``what`` names it in warnings."""
        wait = self._retry_wait
        problem = ""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self._client.post(self._url, content=body, headers=_CONTENT_TYPE)
            except httpx.HTTPError as error:
                problem = type(error).__name__
            else:
                if response.is_success:
                    return True
                problem = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break
            if attempt < ATTEMPTS:
                time.sleep(wait)
                wait *= 2
        self._warn(
            f"notification {what} not delivered to {shown(self._url)} ({problem}); the run goes on"
        )
        return False

    def close(self) -> None:
        self._client.close()
