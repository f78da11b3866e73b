"""File events: a thread that watches the checkout and reports each burst of changes.

The whole repository root is watched (specs may name datasets anywhere inside it, and a new
spec folder must be seen too), minus the state folder ``.reconcile/`` (the daemon's own cache
and lock writes would otherwise trigger runs forever; the committed tree's snapshot lives
there too), ``.git/`` and the usual tool folders.
Besides it, ``extra`` folders may be watched with a filter of their own (``accept_extra``): the
daemon watches a git checkout's git directory for the files through which HEAD moves.
watchfiles groups a burst of saves (an editor writing a temporary file then renaming it, a
``git pull`` touching many files) into one yield; the trigger queue coalesces the rest.

``last_change`` says when the files the watcher reports on last changed, from their change
times: a save is reported up to a debounce after it happened, so a run that applies the files
as saved checks it once it has read them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from watchfiles import Change, DefaultFilter, watch

# A burst ends after this much quiet; a longer burst is cut into groups of at most DEBOUNCE_MS.
STEP_MS = 100
DEBOUNCE_MS = 1000
# How often the watcher checks whether it should stop (bounds the shutdown time).
STOP_CHECK_MS = 200

IGNORED_DIRS = (*DefaultFilter.ignore_dirs, ".reconcile")


class CheckoutFilter(DefaultFilter):
    """watchfiles' default filter (editor swap files, ``.git``...) plus ``.reconcile/``; a
    path under one of the ``extra`` folders is kept when ``accept_extra`` says so.

    ``on_event`` is told of every event seen, kept or not: proof that the watch is installed
    even while only ignored files change (so no timeout comes to say so).
    """

    def __init__(
        self,
        on_event: Callable[[], None],
        extra: Sequence[Path] = (),
        accept_extra: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(ignore_dirs=IGNORED_DIRS)
        self._on_event = on_event
        self._extra = tuple(
            f"{folder}{'' if str(folder).endswith('/') else '/'}" for folder in extra
        )
        self._accept_extra = accept_extra

    def __call__(self, change: Change, path: str) -> bool:
        self._on_event()
        if self._extra and path.startswith(self._extra):
            return self._accept_extra is not None and self._accept_extra(path)
        return super().__call__(change, path)


def last_change(root: Path) -> float:
    """The newest change time (unix seconds) of the files and folders under ``root`` that the
    watcher reports on. A folder's change time moves when a file in it is created, renamed or
    deleted, so a deletion counts too. A stat per file: milliseconds for a repository of a few
    thousand files."""
    reported = DefaultFilter(ignore_dirs=IGNORED_DIRS)
    newest = 0.0
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if name not in IGNORED_DIRS]
        here = Path(folder)
        paths = [here, *(here / name for name in files)]
        for path in paths:
            if path is not here and not reported(Change.modified, str(path)):
                continue
            try:
                info = path.lstat()
            except OSError:  # gone meanwhile: its folder's change time shows it
                continue
            newest = max(newest, info.st_ctime, info.st_mtime)
    return newest


class FileWatcher:
    """Calls ``on_change(paths)`` after each burst of changes under ``root``, on a thread."""

    def __init__(
        self,
        root: Path,
        on_change: Callable[[frozenset[str]], None],
        extra: Sequence[Path] = (),
        accept_extra: Callable[[str], bool] | None = None,
    ) -> None:
        self._root = root
        self._on_change = on_change
        self._extra = tuple(extra)
        self._accept_extra = accept_extra
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch-files", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        changes = watch(
            self._root,
            *(folder for folder in self._extra if not folder.is_relative_to(self._root)),
            watch_filter=CheckoutFilter(self._ready.set, self._extra, self._accept_extra),
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._stop,
            rust_timeout=STOP_CHECK_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        )
        for batch in changes:
            self._ready.set()
            if self._stop.is_set():
                return
            if batch:
                self._on_change(frozenset(path for _, path in batch))

    def wait_ready(self, timeout: float) -> bool:
        """Whether the watcher is installed (its first timeout came), for tests and start-up."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
