"""Keys as CI really hands them over, and a repository that tries to choose where they go.

- A key with a trailing ``\\n`` (``echo key > file``), ``\\r\\n`` or surrounding tabs works as
  the key it is, and no command, format, plan file or state file shows it.
- A key with anything inside it is refused naming the variable, never the value.
- A provider echoing the key back URL-encoded does not get it printed.
- ``reconciler.yaml``'s ``base_url`` pointing at a capture server: the server receives nothing.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from tests.e2e.e2e_support import Cli, all_output, copy_examples, sandbox_env
from tests.watch.watch_support import DaemonProcess, wait_for

# Characters that URL-encoding, JSON and base64 all change, so that each form is distinct.
KEYS = {
    "segmind": "sk+SENTINEL/seg=0001",
    "qubrid": "sk+SENTINEL/qub=0002",
    "cohere": "sk+SENTINEL/coh=0003",
}


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[RunningSandbox]:
    with start_sandbox(speed=600.0, keys=KEYS) as running:
        yield running


@pytest.fixture
def keyed(keyed_server: RunningSandbox) -> RunningSandbox:
    keyed_server.control.reset()
    keyed_server.control.set_speed(600.0)
    return keyed_server


def _state_text(root: Path) -> str:
    return "\n".join(
        path.read_text(errors="replace")
        for path in (root / ".reconcile").rglob("*")
        if path.is_file() and "sandbox" not in path.parts
    )


@pytest.mark.parametrize("around", [("", "\n"), ("", "\r\n"), ("\t", "\t")])
def test_keys_with_surrounding_whitespace_work_and_never_show(
    keyed: RunningSandbox, tmp_path: Path, around: tuple[str, str]
) -> None:
    repo = copy_examples(tmp_path / "repo")
    before, after = around
    reconcile = Cli(repo, sandbox_env(keyed, {p: f"{before}{k}{after}" for p, k in KEYS.items()}))
    plan_file = repo / "plan.json"
    planned = reconcile("plan", "--out", str(plan_file))
    assert planned.exit_code == 0, planned.output
    assert "0 blocked" in planned.output  # every list was read with the stripped keys
    applied = reconcile("apply", "--plan", str(plan_file))
    assert applied.exit_code == 0, applied.output
    for output in ("text", "json", "markdown"):
        assert reconcile("plan", "--output", output).exit_code == 0
        assert reconcile("status", "--output", output).exit_code == 0
    text = all_output(reconcile.runs) + plan_file.read_text() + _state_text(repo)
    assert "SENTINEL" not in text


@pytest.mark.parametrize("inside", ["\n", " ", "\u00e9", "\u202e"])
def test_a_key_with_anything_inside_is_refused_by_variable(
    keyed: RunningSandbox, tmp_path: Path, inside: str
) -> None:
    repo = copy_examples(tmp_path / "repo")
    reconcile = Cli(repo, sandbox_env(keyed, {"segmind": f"sk+SENTINEL/{inside}seg=0001"}))
    for args in (("plan", "--output", "markdown"), ("status", "--output", "json"), ()):
        result = reconcile(*args)
        assert result.exit_code == 1
        assert "SEGMIND_API_KEY" in result.output
        assert "internal error" not in result.output
    assert "SENTINEL" not in all_output(reconcile.runs)
    assert sum(keyed.control.request_counts().values()) == 0  # nothing was sent with it


def test_a_key_echoed_back_url_encoded_is_masked(keyed: RunningSandbox, tmp_path: Path) -> None:
    repo = copy_examples(tmp_path / "repo")
    reconcile = Cli(repo, sandbox_env(keyed, KEYS))
    echoed = f"invalid key {quote(KEYS['segmind'], safe='')} ({quote(KEYS['segmind'])})"
    keyed.control.add_fault(kind="error", status=400, provider="segmind", message=echoed)
    for output in ("text", "json", "markdown"):
        assert reconcile("plan", "--output", output).exit_code == 1
    assert reconcile("status", "--output", "json").exit_code == 1
    text = all_output(reconcile.runs)
    assert "invalid key" in text  # the provider's message is shown, masked
    assert "SENTINEL" not in text


class _Capture(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def _record(self) -> None:
        self.seen.append(dict(self.headers.items()))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"[]")

    do_GET = do_POST = do_PUT = _record

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def capture() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Capture,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_reconciler_yaml_cannot_send_the_keys_elsewhere(
    keyed: RunningSandbox, tmp_path: Path, capture: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = capture
    repo = copy_examples(tmp_path / "repo")
    with (repo / "reconciler.yaml").open("w") as config:
        config.write(
            "owner: test-repo\n"
            "providers:\n"
            f"  segmind: {{base_url: '{url}/segmind'}}\n"
            f"  qubrid: {{base_url: '{url}/qubrid'}}\n"
            f"  cohere: {{base_url: '{url}/cohere'}}\n"
        )
    env = sandbox_env(keyed, KEYS)
    for variable in ("SEGMIND_BASE_URL", "QUBRID_BASE_URL", "COHERE_BASE_URL", "CO_API_URL"):
        env.pop(variable, None)
    reconcile = Cli(repo, env)
    for args in (("plan",), ("status",), ("validate",), ()):
        result = reconcile(*args)
        assert result.exit_code == 1, result.output
        assert "reconciler.yaml:3:" in result.output  # segmind's base_url
        assert "SEGMIND_BASE_URL" in result.output
    assert seen == []
    assert "SENTINEL" not in all_output(reconcile.runs)


def test_a_dataset_urls_password_stays_out_of_every_output(
    keyed: RunningSandbox, tmp_path: Path
) -> None:
    repo = copy_examples(tmp_path / "repo")
    spec = repo / "specs/segmind-qwen.yaml"
    url = "https://alice:pw-SENTINEL-0004@data.example/mascot.zip?X-Amz-Signature=SENTINEL"
    spec.write_text(
        "\n".join(
            f'dataset: {{url: "{url}"}}' if line.startswith("dataset:") else line
            for line in spec.read_text().splitlines()
        )
    )
    reconcile = Cli(repo, sandbox_env(keyed, KEYS))
    plan_file = repo / "plan.json"
    assert reconcile("plan", "--out", str(plan_file)).exit_code == 0
    for output in ("text", "json", "markdown"):
        assert reconcile("plan", "--output", output).exit_code == 0
    applied = reconcile("apply", "--plan", str(plan_file), "--output", "json")
    assert applied.exit_code == 0, applied.output
    again = reconcile("plan", "--output", "json")
    assert '"action": "create"' not in again.output  # the job made from the URL is in sync
    assert reconcile("status", "--output", "json").exit_code == 0
    text = all_output(reconcile.runs) + plan_file.read_text() + _state_text(repo)
    assert "data.example/mascot.zip" in text
    assert "SENTINEL" not in text


def _daemon_output(
    repo: Path, env: dict[str, str], log_format: str, fault: Callable[[], object]
) -> str:
    """What ``reconcile --watch`` prints over its first run, ``fault()``, and two runs more."""
    daemon = DaemonProcess(repo, env, "--interval", "0.5", "--log-format", log_format)
    try:
        wait_for(lambda: daemon.runs() >= 1, 30.0, "the daemon's first run")
        fault()
        seen = daemon.runs()
        wait_for(lambda: daemon.runs() >= seen + 2, 30.0, "two more runs")
    finally:
        daemon.http.close()
        daemon.process.send_signal(signal.SIGTERM)
        stdout, stderr = daemon.process.communicate(timeout=15)
    return stdout + stderr


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_daemon_logs_no_key_on_its_error_paths(
    keyed: RunningSandbox, tmp_path: Path, log_format: str
) -> None:
    repo = copy_examples(tmp_path / "repo")
    accepted = sandbox_env(keyed, {p: f"{k}\n" for p, k in KEYS.items()})
    failing = _daemon_output(
        repo,
        accepted,
        log_format,
        lambda: keyed.control.add_fault(kind="error", status=400, provider="segmind"),
    )
    keyed.control.clear_faults()
    assert "400" in failing
    wrong = sandbox_env(keyed, {p: f"{k}-wrong\r\n" for p, k in KEYS.items()})
    refused = _daemon_output(repo, wrong, log_format, lambda: None)
    assert "401" in refused
    assert "SENTINEL" not in failing + refused + _state_text(repo)


def test_a_key_quoted_in_a_failed_jobs_message_is_masked(
    keyed: RunningSandbox, tmp_path: Path
) -> None:
    repo = copy_examples(tmp_path / "repo")
    reconcile = Cli(repo, sandbox_env(keyed, KEYS))
    assert reconcile("apply").exit_code == 0
    key = KEYS["segmind"]
    rows = keyed.sandbox.store.query("SELECT id FROM segmind_jobs")
    message = f"training refused key {key} ({quote(key, safe='')}, {json.dumps(key)})"
    keyed.control.fail("segmind", "jobs", rows[0]["id"], message)
    for output in ("text", "json", "markdown"):
        reconcile("status", "--output", output)
        reconcile("plan", "--output", output)
    text = all_output(reconcile.runs)
    assert "training refused key" in text
    assert "SENTINEL" not in text
