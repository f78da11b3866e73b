"""No API key, pre-signed signature or Authorization header in any output, error or plan file
of any command: sentinel keys the sandbox accepts, wrong keys (401), and injected 500s."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox, start_sandbox
from reconciler import run
from reconciler.providers.http import RetryPolicy
from reconciler.providers.registry import build_client
from tests.e2e.e2e_support import Cli, all_output, copy_examples, sandbox_env

SENTINEL_KEYS = {
    "segmind": "sk-SENTINEL-seg",
    "qubrid": "sk-SENTINEL-qub",
    "cohere": "sk-SENTINEL-coh",
}
WRONG_KEYS = {
    "segmind": "sk-SENTINEL-wrong-seg",
    "qubrid": "sk-SENTINEL-wrong-qub",
    "cohere": "sk-SENTINEL-wrong-coh",
}
# Pre-signed URL credentials: any of these followed by a value that is not a mask is a leak.
_SIGNED = re.compile(r"(?i)(x-amz-signature|x-amz-credential|signature|awsaccesskeyid)=(?!\*)")
# A credential header with a value that is not a mask ("Authorization: Bearer ****" is fine).
_AUTH = re.compile(
    r"""(?i)\b(authorization|x-api-key)['"]?\s*[:=]\s*['"]?(bearer\s+)?(?!\*{4}|bearer\b)[\w-]{6,}"""
)


def assert_clean(text: str) -> None:
    assert "SENTINEL" not in text, text
    assert not _SIGNED.search(text), text
    assert not _AUTH.search(text), text


@pytest.fixture(scope="module")
def sentinel_server() -> Iterator[RunningSandbox]:
    with start_sandbox(speed=600.0, keys=SENTINEL_KEYS) as running:
        yield running


@pytest.fixture
def sentinel(sentinel_server: RunningSandbox) -> RunningSandbox:
    sentinel_server.control.reset()
    sentinel_server.control.set_speed(600.0)
    return sentinel_server


@pytest.fixture
def sentinel_repo(tmp_path: Path) -> Path:
    return copy_examples(tmp_path / "repo")


def test_every_command_with_accepted_keys_prints_no_secret(
    sentinel: RunningSandbox, sentinel_repo: Path
) -> None:
    reconcile = Cli(sentinel_repo, sandbox_env(sentinel, SENTINEL_KEYS))
    assert reconcile.env["SEGMIND_API_KEY"] == "sk-SENTINEL-seg"
    plan_file = sentinel_repo / "plan.json"
    assert reconcile("plan", "--out", str(plan_file)).exit_code == 0
    assert reconcile("apply", "--plan", str(plan_file)).exit_code == 0
    for output in ("text", "json", "markdown"):
        assert reconcile("plan", "--output", output).exit_code == 0
        assert reconcile("status", "--output", output).exit_code == 0
        assert reconcile("--output", output).exit_code == 0
    assert_clean(all_output(reconcile.runs))
    assert_clean(plan_file.read_text())
    assert_clean(_state_files(sentinel_repo))


def test_wrong_keys_fail_clearly_without_echoing_them(
    sentinel: RunningSandbox, sentinel_repo: Path
) -> None:
    reconcile = Cli(sentinel_repo, sandbox_env(sentinel, WRONG_KEYS))
    plan_file = sentinel_repo / "plan.json"
    planned = reconcile("plan", "--out", str(plan_file))
    assert planned.exit_code == 1
    assert "401" in planned.stdout
    assert "SEGMIND_API_KEY" in planned.stdout  # says which variable to fix
    assert reconcile().exit_code == 1
    assert reconcile("status").exit_code == 1
    assert reconcile("--output", "json").exit_code == 1
    assert_clean(all_output(reconcile.runs))
    assert_clean(plan_file.read_text())
    assert sum(sentinel.control.request_counts().values()) > 0


def test_server_errors_everywhere_print_no_secret(
    sentinel: RunningSandbox, sentinel_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every attempt is made, as a user's run makes them, with short waits in between: what
    # is checked here is what the errors say, not how long the retries wait.
    quick = RetryPolicy(initial_wait=0.01, max_wait=0.05)
    monkeypatch.setattr(
        run,
        "default_client_factory",
        lambda provider, settings: build_client(provider, settings, retry=quick),
    )
    reconcile = Cli(sentinel_repo, sandbox_env(sentinel, SENTINEL_KEYS))
    # Segmind cannot even be listed (each list is retried, then given up).
    listing = sentinel.control.add_fault(kind="error", status=500, provider="segmind")
    planned = reconcile("plan", "--out", str(sentinel_repo / "plan.json"))
    assert planned.exit_code == 1
    assert "HTTP 500" in planned.stdout
    assert reconcile("status", "--output", "json").exit_code == 1
    # Every provider lists, but each Qubrid upload gets a 500 whose outcome is unknown.
    sentinel.control.http.delete(f"/faults/{listing}")
    sentinel.control.add_fault(
        kind="error", status=500, provider="qubrid", method="POST", message="boom"
    )
    applied = reconcile()
    assert applied.exit_code == 1
    assert "FAILED  create  qubrid/support-qa-v1" in applied.stdout
    assert "HTTP 500" in applied.stdout
    assert_clean(all_output(reconcile.runs))
    assert_clean((sentinel_repo / "plan.json").read_text())


def test_failing_presigned_uploads_print_no_signature(
    sentinel: RunningSandbox, sentinel_repo: Path
) -> None:
    reconcile = Cli(sentinel_repo, sandbox_env(sentinel, SENTINEL_KEYS))
    sentinel.control.add_fault(kind="error", status=400, path="/_objects/*", message="refused")
    applied = reconcile()
    assert applied.exit_code == 1
    assert "segmind/mascot-qwen-v1" in applied.stdout
    assert "dataset upload failed" in applied.stdout
    assert_clean(all_output(reconcile.runs))


def test_the_console_script_prints_no_secret_on_errors(
    sentinel: RunningSandbox, sentinel_repo: Path
) -> None:
    # The dropped connections are retried after milliseconds instead of seconds: what is
    # printed about them is the point, not the pauses.
    config = sentinel_repo / "reconciler.yaml"
    config.write_text(config.read_text() + "retry_wait: 0.01\n")
    reconcile = Cli(sentinel_repo, sandbox_env(sentinel, WRONG_KEYS))
    sentinel.control.add_fault(kind="drop", provider="segmind", count=5)
    for args in (("plan",), (), ("status",)):
        completed = reconcile.subprocess(*args)
        assert completed.returncode == 1, completed.stderr
        assert "Traceback" not in completed.stderr
        assert_clean(completed.stdout + completed.stderr)


def _state_files(root: Path) -> str:
    """Everything reconcile wrote under .reconcile/ except the sandbox's own database."""
    texts = []
    for path in (root / ".reconcile").rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)
