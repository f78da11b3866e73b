"""Inputs that used to end in "internal error": each now gets ``file:line`` or an error naming
the provider, and a provider's unreadable answer stops that provider only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, copy_examples, sandbox_env

DEEP = 100_000


def test_a_deeply_nested_jsonl_line_is_that_lines_problem(tmp_path: Path, reconcile: Cli) -> None:
    chat = reconcile.repo / "datasets/support-chat.jsonl"
    lines = chat.read_text().splitlines()
    lines[1] = "[" * DEEP + "]" * DEEP
    lines[2] = '{"n": ' + "9" * 5000 + "}"
    chat.write_text("\n".join(lines) + "\n")
    for args in (("validate",), ("plan",)):
        result = reconcile(*args)
        assert result.exit_code == 1
        assert "internal error" not in result.output
        assert "datasets/support-chat.jsonl:2:1: dataset: nested too deeply" in result.output
        assert "datasets/support-chat.jsonl:3:1: dataset: not valid JSON" in result.output


@pytest.fixture
def deep_json_server() -> Iterator[str]:
    body = b"[" * DEEP + b"]" * DEEP

    class Deep(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deep)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_deeply_nested_json_from_one_provider_stops_that_provider_only(
    running: RunningSandbox, tmp_path: Path, deep_json_server: str
) -> None:
    repo = copy_examples(tmp_path / "repo")
    env = sandbox_env(running)
    env["SEGMIND_BASE_URL"] = deep_json_server
    reconcile = Cli(repo, env)
    planned = reconcile("plan")
    assert planned.exit_code == 1
    assert "internal error" not in planned.output
    assert "segmind could not be read: listing fine-tunes: the answer is not JSON" in planned.output
    # The other providers were read: their creates are planned, not blocked.
    assert "+ support-qa-v1" in planned.output
    assert "Plan: 4 to create" in planned.output and "; 4 not planned" in planned.output


def test_provider_text_on_the_commands_stderr_lines_is_escaped(
    running: RunningSandbox, tmp_path: Path
) -> None:
    repo = copy_examples(tmp_path / "repo")
    reconcile = Cli(repo, sandbox_env(running))
    hostile = "no\x1b]0;pwned\x07 \x1b[2J\r\nreconcile: ok \u202eforged"
    running.control.add_fault(kind="error", status=400, provider="segmind", message=hostile)
    for args in ((), ("apply",), ("plan",), ("status",)):
        result = reconcile(*args)
        assert result.exit_code == 1
        text = result.stdout + result.stderr
        assert "pwned" in text  # the provider's words are shown, escaped
        for raw in ("\x1b", "\x07", "\r", "\u202e"):
            assert raw not in text, (args, raw, text)
        assert "\nreconcile: ok" not in text
