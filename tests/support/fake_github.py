"""A stand-in for the part of GitHub's REST API the action's publish script calls, served over
real HTTP on localhost: issue and pull request comments (paged two at a time, with GitHub's
``Link`` header, so that following pages is exercised), issues by label, commit statuses, the
pull requests of a commit, and ``GET /user``, which answers 403 as it does for GITHUB_TOKEN and
App tokens unless the test names the token's account (a personal token)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPOSITORY = "acme/specs"
PAGE_SIZE = 2


@dataclass
class GitHubState:
    """What the fake holds, and every request it was sent (method, path, JSON body, auth)."""

    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    pulls_of_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    token_login: str | None = None
    # True: every write is refused as GitHub refuses a token without the permission.
    refuse_writes: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def writes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] != "GET"]

    @property
    def author(self) -> dict[str, str]:
        """Who the comments the token writes are by."""
        if self.token_login is not None:
            return {"login": self.token_login, "type": "User"}
        return {"login": "github-actions[bot]", "type": "Bot"}


class _Handler(BaseHTTPRequestHandler):
    state: GitHubState
    base: str

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the recorded requests instead."""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.state.requests.append(
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qs(url.query),
                "body": body,
                "authorization": self.headers.get("Authorization"),
            }
        )
        prefix = f"/repos/{REPOSITORY}/"
        if url.path == "/user":
            if self.state.token_login is None:
                self._send(403, {"message": "Resource not accessible by integration"})
            else:
                self._send(200, {"login": self.state.token_login, "type": "User"})
            return
        if not url.path.startswith(prefix):
            self._send(404, {"message": "Not Found"})
            return
        if self.state.refuse_writes and self.command != "GET":
            self._send(403, {"message": "Resource not accessible by integration"})
            return
        parts = url.path[len(prefix) :].split("/")
        query = parse_qs(url.query)
        self._route(parts, query, body)

    def _route(self, parts: list[str], query: dict[str, list[str]], body: Any) -> None:
        state = self.state
        match self.command, parts:
            case "GET", ["issues", number, "comments"]:
                self._send_page(state.comments.get(int(number), []), query, parts)
            case "POST", ["issues", number, "comments"]:
                comment = {"id": state.new_id(), "user": state.author, "body": body["body"]}
                state.comments.setdefault(int(number), []).append(comment)
                self._send(201, comment)
            case "PATCH", ["issues", "comments", comment_id]:
                for comments in state.comments.values():
                    for comment in comments:
                        if comment["id"] == int(comment_id):
                            comment["body"] = body["body"]
                            self._send(200, comment)
                            return
                self._send(404, {"message": "Not Found"})
            case "GET", ["issues"]:
                labels = set(query.get("labels", [""])[0].split(","))
                wanted = query.get("state", ["open"])[0]
                found = [
                    issue
                    for issue in state.issues
                    if issue["state"] == wanted and labels <= set(issue["labels"])
                ]
                self._send_page(found, query, parts)
            case "POST", ["issues"]:
                issue = {
                    "number": state.new_id(),
                    "state": "open",
                    "user": state.author,
                    **body,
                }
                state.issues.append(issue)
                self._send(201, issue)
            case "PATCH", ["issues", number]:
                for issue in state.issues:
                    if issue["number"] == int(number):
                        issue.update(body)
                        self._send(200, issue)
                        return
                self._send(404, {"message": "Not Found"})
            case "POST", ["statuses", sha]:
                state.statuses.append({"sha": sha, **body})
                self._send(201, body)
            case "GET", ["commits", sha, "pulls"]:
                self._send(200, state.pulls_of_commit.get(sha, []))
            case _:
                self._send(404, {"message": "Not Found"})

    def _send_page(self, items: list[Any], query: dict[str, list[str]], parts: list[str]) -> None:
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        headers = {}
        if page * PAGE_SIZE < len(items):
            others = "&".join(
                f"{k}={v[0]}" for k, v in query.items() if k not in ("page", "per_page")
            )
            url = f"{self.base}/repos/{REPOSITORY}/{'/'.join(parts)}?{others}&page={page + 1}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send(200, chunk, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = _handle


@dataclass(frozen=True)
class FakeGitHub:
    url: str
    state: GitHubState


def serve_fake_github() -> Iterator[FakeGitHub]:
    """A fake GitHub API on a free localhost port, for one test."""
    state = GitHubState()
    handler: type[_Handler] = type("Handler", (_Handler,), {"state": state, "base": ""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    handler.base = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeGitHub(url, state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
