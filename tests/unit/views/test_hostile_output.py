"""Hostile provider text and file names through every view, against the sandbox over HTTP.

One text carries what an attacker who controls a provider's answers would send: terminal
escapes (clear screen, an OSC title ended by BEL), a carriage return and a line feed that
forge an ``ok``/``FAILED`` line, bidi overrides and isolates, a team mention, a link, an image,
HTML, an autolink, a bare URL, backticks and a table pipe. The sandbox shows it as a failed
job's message, a job's status, a foreign job's name, the error a refused create answers and the
error of a list that cannot be read; the views are read as a user reads them: the command line
(plan, ``--out``, apply, status in text, markdown and JSON) and the daemon's text and JSON logs.
A spec file whose name holds a line feed and ESC must not forge a diagnostic line either.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconcile_sandbox.testing import RunningSandbox
from reconciler.watch.logs import JsonFormatter, TextFormatter
from tests.e2e.e2e_support import Cli
from tests.support.markdown import code_spans, live_pipes, unescaped
from tests.watch.watch_support import (
    SCRUBBED,
    CapturedLog,
    daemon_in_thread,
    make_repo,
    segmind_jobs,
    wait_for,
    write_spec,
)

HOSTILE = (
    "boom\x1b[2J\x1b]0;pwned\x07 bell\x07"
    "\rok     forged by a carriage return"
    "\nFAILED  forged by a line feed"
    " \u202eexe.txt\u202c \u2066isolated\u2069"
    " @org/team [click](https://evil.example) ![img](https://evil.example/x.png)"
    " <img src=x> <https://evil.example/a> bare https://evil.example/b `tick` a|b"
)
# What the provider layer keeps of it in an error message: whitespace runs folded.
HOSTILE_FOLDED = " ".join(HOSTILE.split())
RAW = ("\x1b", "\x07", "\r", "\u202e", "\u202c", "\u2066", "\u2069")
FORGED = ("ok     forged", "FAILED  forged")


# --- the world ------------------------------------------------------------------------------


def hostile_world(sandbox: RunningSandbox, root: Path, *, unreadable: bool) -> Cli:
    """A repository of three Segmind specs against a sandbox whose answers carry ``HOSTILE``:
    ``fox-v1``'s job failed with it as message, ``fox-v2``'s job shows it as status, a foreign
    job is named it, ``fox-v3``'s create is refused with it, and (``unreadable``) Cohere's list
    answers it as an error."""
    repo = make_repo(root)
    write_spec(repo, "fox-v1")
    write_spec(repo, "fox-v2")
    reconcile = Cli(repo, dict(sandbox.env()))
    created = reconcile("apply")
    assert created.exit_code == 0, created.output
    jobs = {job["name"]: job["id"] for job in segmind_jobs(sandbox)}
    now = sandbox.control.now()
    sandbox.control.fail("segmind", "jobs", jobs["test-repo--fox-v1"], HOSTILE)
    sandbox.control.set_fields(
        "segmind", "jobs", jobs["test-repo--fox-v2"], final_status=HOSTILE, final_sim=now
    )
    sandbox.control.seed("segmind", 1, fail_every=0)
    (foreign,) = [job["id"] for job in segmind_jobs(sandbox) if job["id"] not in jobs.values()]
    sandbox.control.set_fields(
        "segmind", "jobs", foreign, name=HOSTILE, final_status=HOSTILE, final_sim=now
    )
    write_spec(repo, "fox-v3")
    refuse = {"kind": "error", "status": 400, "message": HOSTILE}
    sandbox.control.add_fault(method="POST", path="*/submit", provider="segmind", **refuse)
    if unreadable:
        sandbox.control.add_fault(method="GET", provider="cohere", **refuse)
    return reconcile


# --- what each view must hold to ------------------------------------------------------------


def assert_safe_text(text: str) -> None:
    """A terminal or a text log: no raw control or bidi character, no forged line, and the
    hostile text shown (escaped), so the check is not vacuous."""
    for char in RAW:
        assert char not in text, f"raw U+{ord(char):04X} in {text!r}"
    for line in text.split("\n"):
        assert not line.lstrip().startswith(FORGED), f"forged line {line!r}"
    assert "\\x1b]0;pwned\\x07" in text and "\\u202eexe.txt\\u202c" in text


def assert_inert_markdown(text: str) -> None:
    """A pull-request comment: no raw control or bidi character; outside code spans no
    mention, no link, image or autolink, no HTML of the text's; every table row keeps its
    cells; the hostile text only inside table rows and quotes."""
    for char in RAW:
        assert char not in text, f"raw U+{ord(char):04X} in {text!r}"
    header_pipes = None
    for line in text.split("\n"):
        if "pwned" in line:
            assert line.startswith(("| ", "> ")), f"forged line {line!r}"
        outside, _ = code_spans(line)
        assert "@" not in outside, line
        assert unescaped(outside, "[]") == [], line
        assert "<img" not in outside and "<https" not in outside, line
        assert "://" not in outside, line
        if line.startswith("|"):
            header_pipes = header_pipes if header_pipes is not None else live_pipes(line)
            assert live_pipes(line) == header_pipes, f"a row's cells changed: {line!r}"
        else:
            header_pipes = None
    assert "pwned" in text


def string_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from string_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_values(item)


def assert_exact_json(text: str, expected: str = HOSTILE) -> Any:
    """JSON: ASCII bytes (ESC and bidi only as ``\\u`` escapes) that read back to the exact
    hostile text."""
    assert text.isascii(), [char for char in text if not char.isascii()][:5]
    document = json.loads(text)
    assert any(expected in value for value in string_values(document)), text[:2000]
    return document


# --- the command line -----------------------------------------------------------------------


def test_plan_text_markdown_json_and_saved_file(sandbox: RunningSandbox, tmp_path: Path) -> None:
    reconcile = hostile_world(sandbox, tmp_path / "repo", unreadable=True)
    text = reconcile("plan")
    assert text.exit_code == 1  # Cohere could not be read
    assert_safe_text(text.stdout + text.stderr)
    assert "! cohere could not be read: " in text.stdout
    markdown = reconcile("plan", "-o", "markdown")
    assert_inert_markdown(markdown.stdout)
    assert_safe_text(markdown.stderr + "\\x1b]0;pwned\\x07 \\u202eexe.txt\\u202c")
    as_json = reconcile("plan", "-o", "json", "--out", "saved.json")
    assert_exact_json(as_json.stdout)
    saved = (reconcile.repo / "saved.json").read_text(encoding="utf-8")
    assert saved == as_json.stdout
    assert_exact_json(saved)


def test_apply_text_markdown_and_json(sandbox: RunningSandbox, tmp_path: Path) -> None:
    # Each format from a fresh world: the refused create is what each apply reports.
    for output in ("text", "markdown", "json"):
        sandbox.control.reset()
        reconcile = hostile_world(sandbox, tmp_path / output, unreadable=False)
        applied = reconcile("apply", "-o", output)
        assert applied.exit_code == 1, applied.output
        if output == "text":
            assert_safe_text(applied.stdout + applied.stderr)
            assert "1 failed:" in applied.stdout
            marked = [line for line in applied.stdout.split("\n") if line.startswith("  FAILED")]
            assert len(marked) == 1 and marked[0].startswith("  FAILED  create  segmind/fox-v3: ")
        elif output == "markdown":
            # The plan shown before it is markdown too; the stderr lines are for a terminal.
            assert_inert_markdown(applied.stdout)
            assert "| failed | create | segmind/`fox-v3` |" in applied.stdout
            for char in RAW:
                assert char not in applied.stderr
        else:
            document = assert_exact_json(applied.stdout)
            messages = [outcome["message"] for outcome in document["apply"]["outcomes"]]
            assert any(HOSTILE_FOLDED in message for message in messages), messages


def test_status_text_markdown_and_json(sandbox: RunningSandbox, tmp_path: Path) -> None:
    reconcile = hostile_world(sandbox, tmp_path / "repo", unreadable=True)
    text = reconcile("status")
    assert_safe_text(text.stdout + text.stderr)
    assert "! cohere: could not be read" in text.stdout
    assert_inert_markdown(reconcile("status", "-o", "markdown").stdout)
    document = assert_exact_json(reconcile("status", "-o", "json").stdout)
    statuses = {job["name"]: job["remote_status"] for job in document["jobs"]}
    assert statuses["fox-v2"] == HOSTILE


# --- the daemon -----------------------------------------------------------------------------


def test_daemon_text_and_json_logs(
    sandbox: RunningSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile_world(sandbox, tmp_path / "repo", unreadable=True)
    # The daemon runs on a thread of this process: it reads the sandbox from the environment.
    for variable in SCRUBBED:
        monkeypatch.delenv(variable, raising=False)
    for variable, value in sandbox.env().items():
        monkeypatch.setenv(variable, value)
    log = CapturedLog()  # its handler writes JSON lines
    text_stream = io.StringIO()
    text_handler = logging.StreamHandler(text_stream)
    text_handler.setFormatter(TextFormatter())
    log.logger.addHandler(text_handler)
    assert isinstance(log.logger.handlers[0].formatter, JsonFormatter)

    with daemon_in_thread(tmp_path / "repo", log, quick=True):
        wait_for(
            lambda: "change.failed" in log.text() and "provider.unreadable" in log.text(),
            20.0,
            "the refused create and the unreadable list to be logged",
            log.text,
        )
    text = text_stream.getvalue()
    assert_safe_text(text)
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) ")
    for line in text.splitlines():
        assert stamp.match(line), f"a line that is not an entry of its own: {line!r}"

    entries = [assert_exact_json(line, expected="") for line in log.lines()]
    failed = [entry for entry in entries if entry["event"] == "change.failed"]
    assert any(HOSTILE_FOLDED in str(entry["message"]) for entry in failed), failed
    unreadable = [entry for entry in entries if entry["event"] == "provider.unreadable"]
    assert any(HOSTILE_FOLDED in str(entry["message"]) for entry in unreadable), unreadable


# --- diagnostics ----------------------------------------------------------------------------


def test_a_file_name_cannot_forge_a_diagnostic_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    name = "a\nb\x1b[31m.yaml"
    # An unknown field whose key is a terminal escape, in a file named to break its line.
    spec = "apiVersion: reconciler/v1\nkind: FineTune\nname: fox\nprovider: segmind\n"
    (repo / "specs" / name).write_text(spec + '"\\e]0;pwned\\a": 1\n', encoding="utf-8")
    result = Cli(repo, {})("validate")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines, result.output
    for char in RAW:
        assert char not in result.stderr
    *diagnostics, summary = lines
    assert diagnostics and summary.endswith("no change was sent to any provider.")
    for line in diagnostics:
        assert line.startswith("specs/a\\nb\\x1b[31m.yaml:"), f"forged line {line!r}"
    assert any("\\x1b]0;pwned\\x07" in line for line in diagnostics), diagnostics
