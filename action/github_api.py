"""The few GitHub REST calls the action makes, over the standard library.

The action's scripts run before and beside whatever `reconcile` release a workflow installs, so
they depend on nothing but Python: this module is their one HTTP client (JSON in and out, the
`Link` header's pagination, errors that say which permission is missing). The token is sent in
the Authorization header and never appears in a message.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

# GitHub's answers are small (a page of comments); anything larger is not one of them.
_MAX_ANSWER_BYTES = 16 * 1024 * 1024
_TIMEOUT_SECONDS = 30
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(Exception):
    """A call GitHub refused or did not answer; the message names the call and what to do."""


@dataclass(frozen=True)
class GitHub:
    """A client for one repository: ``api_url`` is GITHUB_API_URL (GitHub Enterprise has its
    own), ``repository`` is ``owner/name``."""

    api_url: str
    repository: str
    token: str

    def __post_init__(self) -> None:
        scheme = urllib.parse.urlsplit(self.api_url).scheme
        # A token must not go anywhere but an https API (plain http only for a local test server).
        if scheme not in ("https", "http"):
            raise GitHubError(f"GITHUB_API_URL must be an https URL, not {self.api_url!r}")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; ``path`` is relative to the repository (``issues/7/comments``) or, with a
        leading slash, to the API (``/user``). Returns the decoded JSON (None when empty)."""
        answer, _ = self._request(method, self._url(path), body)
        return answer

    def pages(self, path: str) -> list[Any]:
        """Every item of a listing, following ``Link: rel="next"``."""
        items: list[Any] = []
        separator = "&" if "?" in path else "?"
        url: str | None = self._url(f"{path}{separator}per_page=100")
        while url is not None:
            answer, link = self._request("GET", url, None)
            if not isinstance(answer, list):
                raise GitHubError(f"GET {path}: expected a list from GitHub")
            items.extend(answer)
            found = _NEXT_LINK.search(link)
            url = found.group(1) if found else None
        return items

    def _url(self, path: str) -> str:
        if path.startswith("/"):
            return self.api_url.rstrip("/") + path
        return f"{self.api_url.rstrip('/')}/repos/{self.repository}/{path}"

    def _request(self, method: str, url: str, body: Any) -> tuple[Any, str]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (scheme checked in __post_init__)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "reconcile-action")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        shown = f"{method} {urllib.parse.urlsplit(url).path}"
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310 (scheme checked in __post_init__)
                raw = response.read(_MAX_ANSWER_BYTES + 1)
                link = response.headers.get("Link", "")
        except urllib.error.HTTPError as error:
            detail = f"HTTP {error.code} {_message(error)}{_hint(error.code)}"
            raise GitHubError(f"{shown}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise GitHubError(f"{shown}: GitHub did not answer ({error})") from None
        if len(raw) > _MAX_ANSWER_BYTES:
            raise GitHubError(f"{shown}: the answer is larger than {_MAX_ANSWER_BYTES} bytes")
        if not raw:
            return None, link
        try:
            return json.loads(raw), link
        except ValueError:
            raise GitHubError(f"{shown}: the answer is not JSON") from None


def _message(error: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(error.read(64 * 1024))
    except (ValueError, OSError):
        return ""
    message = answer.get("message") if isinstance(answer, dict) else None
    # GitHub's own message, on one line and short: it is shown in the log.
    return f"({' '.join(str(message).split())[:200]})" if message else ""


def _hint(status: int) -> str:
    if status in (401, 403, 404):
        return (
            "; the token may not do this: give the job the permission docs/ci.md lists for this"
            " mode (pull-requests: write, issues: write or statuses: write)"
        )
    return ""
