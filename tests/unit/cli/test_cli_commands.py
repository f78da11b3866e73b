"""The command line's own commands and manners: a mistyped command is named with its likely
meaning (and a path is still a path), shell completion for bash, zsh and fish, ``version``,
an ``Examples`` section in every command's help, options refused where they would do nothing,
and a listening address that is taken said plainly (exit 1, no "internal error").

Exit codes and completion are the console script's (``reconcile.cli:main``), so those run it in
a child process, as a user or a shell does."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import __version__
from reconciler.cli import cli

RECONCILE = str(Path(sys.executable).parent / "reconcile")
COMMANDS = sorted(cli.commands)


def run(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The console script in a child process; one that would serve or watch until stopped
    fails its test by running out ``timeout`` (and is killed)."""
    return subprocess.run(
        [RECONCILE, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- Mistyped commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"), [("stauts", "status"), ("plna", "plan"), ("valdiate", "validate")]
)
def test_a_mistyped_command_is_named_with_the_command_meant(
    tmp_path: Path, typed: str, meant: str
) -> None:
    done = run(typed, cwd=tmp_path)
    assert done.returncode == 1
    assert f"no such command '{typed}'; did you mean '{meant}'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_path_named_like_a_command_is_still_a_path(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "stauts").mkdir()
    done = run("stauts", cwd=tmp_path)
    assert done.returncode == 1
    assert "no such command" not in done.stderr
    # Taken as apply's PATH: the run reports the repository's input.
    assert done.stderr.endswith("no change was sent to any provider.\n")


@pytest.mark.parametrize("typed", ["some/new/path", "specs/stauts", "stauts.yaml", "zzzz"])
def test_paths_and_unlike_words_are_not_taken_for_commands(tmp_path: Path, typed: str) -> None:
    done = run(typed, cwd=tmp_path)
    assert done.returncode == 1
    assert "no such command" not in done.stderr


# --- Shell completion ----------------------------------------------------------------------


def complete(shell: str, words: str, cword: int) -> list[str]:
    """What the completion protocol answers the script of ``shell`` for ``words`` (fish's
    script sends the word being completed rather than its index)."""
    current = words.split(" ")[cword] if shell == "fish" else str(cword)
    env = {"_RECONCILE_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": current}
    done = run(env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_answers_for_reconcile(shell: str) -> None:
    done = run("completion", shell)
    assert done.returncode == 0, done.stderr
    assert f"_RECONCILE_COMPLETE={shell}_source" not in done.stdout  # the script, not a recipe
    assert f"_RECONCILE_COMPLETE={shell}_complete" in done.stdout
    assert "reconcile" in done.stdout


def test_completing_sta_yields_status_in_each_shells_protocol() -> None:
    assert complete("bash", "reconcile sta", 1) == ["plain,status"]
    assert "status" in complete("zsh", "reconcile sta", 1)
    assert complete("fish", "reconcile sta", 1)[0].startswith("plain,status")


def test_completion_offers_an_options_choices() -> None:
    assert complete("bash", "reconcile plan -o ", 3) == [
        "plain,text",
        "plain,markdown",
        "plain,json",
    ]


def test_the_first_word_completes_the_default_commands_options_and_modes() -> None:
    assert complete("bash", "reconcile --sand", 1) == ["plain,--sandbox"]
    assert complete("bash", "reconcile --dry", 1) == ["plain,--dry-run"]
    assert complete("bash", "reconcile --dry-run --sa", 2) == ["plain,--sandbox"]


def test_the_bash_script_sourced_in_bash_completes_every_command() -> None:
    script = run("completion", "bash").stdout
    probe = (
        f"{script}\n"
        "COMP_WORDS=(reconcile ''); COMP_CWORD=1; _reconcile_completion reconcile\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(reconcile sta); COMP_CWORD=1; COMPREPLY=(); _reconcile_completion reconcile\n"
        'printf "sta:%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe],
        env={**os.environ, "PATH": f"{Path(RECONCILE).parent}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert set(COMMANDS) <= set(lines)
    assert [line for line in lines if line.startswith("sta:")] == ["sta:status"]


# --- version -------------------------------------------------------------------------------


def test_version_says_reconcile_python_and_platform() -> None:
    result = CliRunner().invoke(cli, ["version"])
    assert result.exit_code == 0
    assert f"reconcile {__version__}" in result.stdout
    assert f"Python {platform.python_version()}" in result.stdout
    assert platform.platform() in result.stdout


def test_version_as_json() -> None:
    result = CliRunner().invoke(cli, ["version", "-o", "json"])
    assert result.exit_code == 0
    facts = json.loads(result.stdout)
    assert facts["version"] == __version__
    assert facts["python"] == platform.python_version()
    assert facts["implementation"] == platform.python_implementation()
    assert facts["platform"] == platform.platform()


def test_the_version_flag_stays() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


# --- Examples in every help ----------------------------------------------------------------


def examples_of(args: list[str]) -> list[str]:
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    headings = [index for index, line in enumerate(lines) if line.strip() == "Examples:"]
    assert headings, f"no Examples section in `reconcile {' '.join(args)} --help`"
    return [line.strip() for line in lines[headings[0] + 1 :] if line.strip()]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_has_examples_of_that_command(command: str) -> None:
    examples = examples_of([command])
    assert examples
    for example in examples:
        assert example.startswith("reconcile") or example.startswith("eval"), example
    # Each names its own command (``--watch`` is ``watch``; ``reconcile PATH`` is ``apply``).
    assert any(command in example for example in examples), examples


def test_the_groups_help_has_examples() -> None:
    assert any(example.startswith("reconcile --sandbox") for example in examples_of([]))


# --- Options only where they act -----------------------------------------------------------


def test_webhook_spacing_without_listen_is_refused(tmp_path: Path) -> None:
    # Refused before the daemon starts: nothing is watched, nothing applied.
    (tmp_path / ".git").mkdir()
    done = run("watch", "--sandbox", "--webhook-spacing", "5", cwd=tmp_path, timeout=30)
    assert done.returncode == 1
    assert "--webhook-spacing" in done.stderr and "--listen" in done.stderr


def test_plan_takes_no_parallelism(tmp_path: Path) -> None:
    # A plan sends no write: a parallelism of writes would do nothing there.
    done = run("plan", "--parallelism", "8", cwd=tmp_path, timeout=30)
    assert done.returncode == 1
    assert "No such option '--parallelism'" in done.stderr
    assert "--parallelism" in run("apply", "--help", timeout=30).stdout
    assert "--parallelism" in run("watch", "--help", timeout=30).stdout


@pytest.mark.parametrize("limit", ["--max-creates", "--max-replaces", "--max-deletes"])
def test_a_saved_plan_takes_no_guardrail_of_the_command_line(tmp_path: Path, limit: str) -> None:
    # The saved plan's guardrails are those it was made with; a limit given here would do
    # nothing, so it is refused rather than silently ignored.
    saved = tmp_path / "plan.json"
    saved.write_text("{}", encoding="utf-8")
    done = run("apply", "--plan", str(saved), limit, "3", cwd=tmp_path, timeout=30)
    assert done.returncode == 1
    assert "--max-* cannot be given with --plan" in done.stderr


# --- A listening address that is taken ------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_sandbox_on_a_taken_port_says_so(tmp_path: Path, taken_port: int) -> None:
    done = run("sandbox", "--port", str(taken_port), "--data", str(tmp_path / "state"), timeout=30)
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{taken_port}: the address is already in use" in (
        done.stderr
    )
    assert "--host and --port" in done.stderr


# 203.0.113.9 is TEST-NET-3 (RFC 5737): never an address of this machine.
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--host", "203.0.113.9"], "203.0.113.9:8765: the host is not an address of this machine"),
        (["--port", "70000"], "Invalid value for '--port': 70000 is not in the range"),
        (["--speed", "-1"], "Invalid value for '--speed'"),
    ],
    ids=["foreign-host", "port-out-of-range", "negative-speed"],
)
def test_sandbox_on_an_impossible_address_or_speed_says_so(
    tmp_path: Path, args: list[str], said: str
) -> None:
    done = run("sandbox", *args, "--data", str(tmp_path / "state"), timeout=30)
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert said in done.stderr


def test_sandbox_with_an_unusable_data_folder_names_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    done = run("sandbox", "--port", "0", "--data", str(tmp_path / "file" / "state"), timeout=30)
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert f"{tmp_path / 'file' / 'state'}" in done.stderr and "--data" in done.stderr


def test_watch_listening_on_a_taken_port_says_so(tmp_path: Path, taken_port: int) -> None:
    (tmp_path / ".git").mkdir()
    done = run(
        "watch", "--sandbox", "--listen", f"127.0.0.1:{taken_port}", cwd=tmp_path, timeout=30
    )
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{taken_port}" in done.stderr
    assert "--listen HOST:PORT" in done.stderr
