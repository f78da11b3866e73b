"""The apply's progress bars (uploads, validation, submits): drawn on a terminal only, never in
a pipe or for machines."""

from __future__ import annotations

import io

from reconciler.progress import NO_PROGRESS
from reconciler.views.progress import TerminalProgress, progress_for


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_per_stage_redrawn_in_place_ending_with_a_newline() -> None:
    terminal = FakeTerminal()
    progress = progress_for(terminal, for_people=True)
    assert isinstance(progress, TerminalProgress)
    progress.begin(uploads=2, upload_bytes=2_000_000, submits=3)
    assert progress.lines() == (
        "uploads     [------------------------------] 0/2 datasets, 0 B of 2.0 MB",
        "validation  [##############################] 0 of 0 validated",
        "submits     [------------------------------] 0/3 jobs",
    )
    progress.uploaded(1_000_000)
    progress.waiting()
    progress.uploaded(1_000_000)
    progress.submitted()
    progress.validated()
    progress.submitted()
    progress.submitted()
    progress.end()
    assert progress.lines() == (
        "uploads     [##############################] 2/2 datasets, 2.0 MB of 2.0 MB",
        "validation  [##############################] 1 of 1 validated",
        "submits     [##############################] 3/3 jobs",
    )
    frames = terminal.getvalue()
    # Drawn once, then moved back up over its three lines for every redraw (seven of them).
    assert frames.count("\x1b[2F") == 7
    assert frames.endswith("3/3 jobs\n")
    assert "1 of 2 validated" not in frames and "0 of 1 validated" in frames


def test_no_bar_in_a_pipe_or_for_machines() -> None:
    assert progress_for(io.StringIO(), for_people=True) is NO_PROGRESS
    assert progress_for(FakeTerminal(), for_people=False) is NO_PROGRESS
