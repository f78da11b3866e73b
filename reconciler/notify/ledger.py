"""The notifications' memory across processes: ``.reconcile/notify.json``
(``notify-sandbox.json`` for the sandbox's jobs).

It holds, for each managed job, the remote job last seen and its health, and the fingerprint
of the last apply failure announced, so that a daemon restarted (or a ``status --wait`` run
beside it in the same checkout) does not announce again what was announced. An update is a
read, a change and an atomic replace under an exclusive lock (``notify.lock``), taken around
the whole round, sends included: two processes never announce the same transition. A file
that cannot be read (absent, damaged, from another version) is an empty ledger: the next
round sets the baseline without announcing anything. Nothing secret is in it: providers, spec
names, remote ids, healths.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LEDGER_FILE = "notify.json"
SANDBOX_LEDGER_FILE = "notify-sandbox.json"
LOCK_FILE = "notify.lock"
LEDGER_VERSION = 1


@dataclass
class Ledger:
    """What was seen and announced: managed job (``provider/name``) -> its remote job and that
    job's health (``{"remote_id", "health"}``); the last apply failure announced (its
    fingerprint; None: the last apply did not fail)."""

    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    apply_failure: str | None = None


def _read(path: Path) -> Ledger:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Ledger()
    if not isinstance(data, dict) or data.get("version") != LEDGER_VERSION:
        return Ledger()
    jobs = data.get("jobs")
    failure = data.get("apply_failure")
    return Ledger(
        jobs={
            str(key): {"remote_id": str(value["remote_id"]), "health": str(value["health"])}
            for key, value in (jobs.items() if isinstance(jobs, dict) else ())
            if isinstance(value, dict) and "remote_id" in value and "health" in value
        },
        apply_failure=failure if isinstance(failure, str) else None,
    )


def _write(path: Path, ledger: Ledger) -> None:
    document = {
        "version": LEDGER_VERSION,
        "jobs": ledger.jobs,
        "apply_failure": ledger.apply_failure,
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".notify-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, sort_keys=True)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise


@contextlib.contextmanager
def open_ledger(folder: Path, *, sandbox: bool = False) -> Iterator[Ledger]:
    """The ledger in ``folder`` (the sandbox's, ``sandbox``), held under its lock; written
    back when the block ends without an exception. Raises ``OSError`` when the folder cannot
    be written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (SANDBOX_LEDGER_FILE if sandbox else LEDGER_FILE)
    with (folder / LOCK_FILE).open("a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ledger = _read(path)
            yield ledger
            _write(path, ledger)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
