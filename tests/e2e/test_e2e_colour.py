"""Colour per https://no-color.org, at a real terminal (a pseudo-terminal as the child's
stdout): the plan is coloured there unless ``NO_COLOR`` is present and not empty, so
``NO_COLOR=`` (empty) keeps colour and ``NO_COLOR=1`` turns it off. Off a terminal there is
never colour."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.e2e_support import Cli
from tests.e2e.test_e2e_terminal import Terminal

GREEN = "\033[32m"  # a create's symbol in the text plan


def plan_at_a_terminal(reconcile: Cli, repo: Path, no_color: str | None) -> str:
    env = dict(reconcile.env)
    if no_color is not None:
        env["NO_COLOR"] = no_color
    terminal = Terminal(repo, env, "plan")
    assert terminal.finish() == 0, terminal.seen
    assert "Plan: 8 to create" in terminal.seen
    return terminal.seen


@pytest.mark.parametrize(
    ("no_color", "coloured"),
    [(None, True), ("", True), ("1", False), ("false", False)],
    ids=["unset", "empty", "one", "any-text"],
)
def test_colour_at_a_terminal_follows_no_color(
    reconcile: Cli, repo: Path, no_color: str | None, coloured: bool
) -> None:
    seen = plan_at_a_terminal(reconcile, repo, no_color)
    assert (GREEN in seen) is coloured
    assert ("\033[" in seen) is coloured


def test_no_colour_off_a_terminal(reconcile: Cli) -> None:
    done = reconcile.subprocess("plan")
    assert done.returncode == 0, done.stderr
    assert "Plan: 8 to create" in done.stdout
    assert "\033[" not in done.stdout
