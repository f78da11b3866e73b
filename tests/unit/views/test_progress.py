"""The upload progress bar: drawn on a terminal only, never in a pipe or for machines."""

from __future__ import annotations

import io

from reconciler.progress import NO_PROGRESS
from reconciler.views.progress import TerminalProgress, progress_for


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_that_ends_with_a_newline() -> None:
    terminal = FakeTerminal()
    progress = progress_for(terminal, for_people=True)
    assert isinstance(progress, TerminalProgress)
    progress.begin(2_000_000, 2)
    progress.advance(1_000_000)
    progress.advance(1_000_000)
    progress.end()
    frames = terminal.getvalue().split("\r")
    assert frames[1].startswith("uploading [------------------------------] 0/2 datasets")
    assert "1/2 datasets, 1.0 MB of 2.0 MB (50%)" in frames[2]
    assert (
        frames[3]
        == "uploading [##############################] 2/2 datasets, 2.0 MB of 2.0 MB (100%)\n"
    )


def test_no_bar_in_a_pipe_or_for_machines() -> None:
    assert progress_for(io.StringIO(), for_people=True) is NO_PROGRESS
    assert progress_for(FakeTerminal(), for_people=False) is NO_PROGRESS
