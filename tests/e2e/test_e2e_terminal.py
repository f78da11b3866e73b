"""Ask before spending, at a real terminal (a pseudo-terminal): the plan is shown and the
question asked; anything but ``yes`` sends nothing, ``yes`` applies. Off a terminal nothing is
asked; ``--auto-approve`` and ``--sandbox`` never ask. And the guardrails: a plan over a limit
is blocked as a whole, with what to raise, until the limit is raised for one run."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections import Counter
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import (
    RECONCILE,
    Cli,
    child_env,
    example_spec_names,
    job_rows,
    live_jobs,
    methods,
)

EXAMPLES = example_spec_names()
QUESTION = "Do you want to apply this plan?"


class Terminal:
    """``reconcile`` run on a pseudo-terminal: what it prints, and what is typed at it."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        primary, secondary = pty.openpty()
        self.primary = primary
        self.process = subprocess.Popen(
            [str(RECONCILE), *args],
            cwd=cwd,
            env=child_env(env, {"TERM": "dumb", "COLUMNS": "200"}),
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            close_fds=True,
        )
        os.close(secondary)
        self.seen = ""

    def read_until(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; the terminal shows:\n{self.seen}"
            ready, _, _ = select.select([self.primary], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.primary, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    assert text in self.seen, f"ended without {text!r}:\n{self.seen}"
                    break
                self.seen += chunk.decode(errors="replace")
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.primary, f"{line}\n".encode())

    def finish(self, timeout: float = 120.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"still running:\n{self.seen}"
            ready, _, _ = select.select([self.primary], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.primary, 65536).decode(errors="replace")
                except OSError:
                    break
        code = self.process.wait()
        os.close(self.primary)
        return code


def test_at_a_terminal_the_plan_is_shown_and_no_sends_nothing(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.clear_requests()
    terminal = Terminal(repo, reconcile.env, "apply")
    shown = terminal.read_until("Enter a value")
    assert "Plan: 8 to create" in shown
    assert QUESTION in shown
    assert "It starts 8 paid trainings (8 to create, 0 to replace) and deletes 0 jobs" in shown
    terminal.type("no")
    assert terminal.finish() == 1
    assert "apply cancelled: nothing was sent" in terminal.seen
    assert set(methods(running)) == {"GET"}
    assert sum(job_rows(running).values()) == 0


def test_at_a_terminal_yes_applies(reconcile: Cli, running: RunningSandbox, repo: Path) -> None:
    terminal = Terminal(repo, reconcile.env, "apply")
    terminal.read_until("Enter a value")
    terminal.type("yes")
    assert terminal.finish() == 0, terminal.seen
    assert "Apply: 8 done, 0 failed, 0 blocked" in terminal.seen
    assert live_jobs(running, repo) == Counter(EXAMPLES)
    # In sync now: nothing to spend, so nothing is asked.
    again = Terminal(repo, reconcile.env, "apply")
    assert again.finish() == 0
    assert QUESTION not in again.seen


def test_only_yes_goes_on(reconcile: Cli, running: RunningSandbox, repo: Path) -> None:
    terminal = Terminal(repo, reconcile.env, "apply")
    terminal.read_until("Enter a value")
    terminal.type("y")
    assert terminal.finish() == 1
    assert sum(job_rows(running).values()) == 0


def test_auto_approve_and_sandbox_never_ask(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    terminal = Terminal(repo, reconcile.env, "apply", "--auto-approve")
    assert terminal.finish() == 0, terminal.seen
    assert QUESTION not in terminal.seen
    assert sum(job_rows(running).values()) == len(EXAMPLES)
    sandboxed = Terminal(repo, reconcile.env, "apply", "--sandbox")
    assert sandboxed.finish() == 0, sandboxed.seen
    assert QUESTION not in sandboxed.seen


def test_off_a_terminal_nothing_is_asked(reconcile: Cli, running: RunningSandbox) -> None:
    result = reconcile.subprocess("apply")  # stdin is not a terminal: as in CI
    assert result.returncode == 0, result.stderr
    assert QUESTION not in result.stdout + result.stderr
    assert sum(job_rows(running).values()) == len(EXAMPLES)


# --- guardrails ----------------------------------------------------------------------------


def test_a_plan_over_max_creates_is_blocked_as_a_whole_until_raised(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    config = repo / "reconciler.yaml"
    config.write_text(config.read_text() + "guardrails: {max_creates: 5}\n")
    running.control.clear_requests()
    blocked = reconcile("plan", "--output", "markdown")
    assert blocked.exit_code == 1
    assert "_Guardrails: 8 of at most 5 creates, 0 of 10 replaces, 0 of 10 deletes_" in (
        blocked.stdout
    )
    # Markdown: the underscore is escaped (the reason may carry provider text).
    assert "the plan would create 8 jobs and guardrails.max\\_creates is 5" in blocked.stdout
    assert "--max-creates 8" in blocked.stdout
    applied = reconcile()
    assert applied.exit_code == 1
    assert "Apply: 0 done, 0 failed, 8 blocked" in applied.stdout
    assert set(methods(running)) == {"GET"}

    raised = reconcile("--max-creates", "8", "--output", "json")
    assert raised.exit_code == 0, raised.output
    assert json.loads(raised.stdout)["plan"]["options"]["guardrails"]["max_creates"] == 8
    assert live_jobs(running, repo) == Counter(EXAMPLES)


def test_max_deletes_and_max_replaces_block_their_plans(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    assert reconcile().exit_code == 0
    for spec in ("qubrid-release-notes.yaml", "cohere-ticket-labels.yaml"):
        (repo / "specs" / spec).unlink()
    csv = repo / "datasets" / "support-qa.csv"
    csv.write_text(csv.read_text() + '"Is there a dark mode?","Yes."\n')
    running.control.clear_requests()

    deletes = reconcile("--prune", "--allow-replace", "--max-deletes", "1")
    assert deletes.exit_code == 1
    assert "the plan would delete 2 jobs and guardrails.max_deletes is 1" in deletes.stdout
    replaces = reconcile("--prune", "--allow-replace", "--max-replaces", "0")
    assert replaces.exit_code == 1
    assert "the plan would replace 1 job and guardrails.max_replaces is 0" in replaces.stdout
    assert set(methods(running)) == {"GET"}
    within = reconcile("--prune", "--allow-replace")
    assert within.exit_code == 0, within.output
