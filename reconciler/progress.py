"""The seam apply reports its progress to: ``ApplyProgress``, and ``NO_PROGRESS`` that shows
nothing.

An apply's creates go through three stages (``reconciler.apply.executor``): their datasets are
uploaded, waited for while the provider validates them (Cohere), and their jobs submitted. Apply
reports each step as it ends, from several threads at once. What is shown of it is a view's
(``reconciler.views.progress``: a bar per stage on a terminal's stderr).
"""

from __future__ import annotations

from typing import Protocol


class ApplyProgress(Protocol):
    """Receives an apply's progress: ``begin`` with what there is to do, then one call per
    dataset uploaded (with its size), per dataset that starts and ends waiting for its
    validation, and per job whose submit has ended (done or not), then ``end``."""

    def begin(self, *, uploads: int, upload_bytes: int, submits: int) -> None: ...

    def uploaded(self, size: int) -> None: ...

    def waiting(self) -> None: ...

    def validated(self) -> None: ...

    def submitted(self) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    """Shows nothing (pipes, CI logs, ``--output json``, tests)."""

    def begin(self, *, uploads: int, upload_bytes: int, submits: int) -> None:
        return None

    def uploaded(self, size: int) -> None:
        return None

    def waiting(self) -> None:
        return None

    def validated(self) -> None:
        return None

    def submitted(self) -> None:
        return None

    def end(self) -> None:
        return None


NO_PROGRESS = NoProgress()
