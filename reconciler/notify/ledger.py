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

The checkout is untrusted (a pull request may commit ``.reconcile/``): the ledger is sealed like
every cache file (``reconciler.datasets.stat_cache``), so a committed one is an empty ledger,
never a record that makes a finished job look new (announced, and deployed by whoever listens)
or a failure look announced (kept quiet); without a usable seal key nothing is remembered. The
lock file is opened without following a symlink, so a committed link cannot make one anywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from reconciler.datasets.stat_cache import read_sealed_json, replace_file, seal

LEDGER_FILE = "notify.json"
SANDBOX_LEDGER_FILE = "notify-sandbox.json"
LOCK_FILE = "notify.lock"
LEDGER_VERSION = 1
_PURPOSE = b"reconcile notification ledger, version 1"


@dataclass
class Ledger:
    """What was seen and announced: managed job (``provider/name``) -> its remote job and that
    job's health (``{"remote_id", "health"}``); the last apply failure announced (its
    fingerprint; None: the last apply did not fail)."""

    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    apply_failure: str | None = None


def _read(path: Path) -> Ledger:
    data = read_sealed_json(_PURPOSE, path)
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


def _encoded(ledger: Ledger) -> bytes:
    document = {
        "version": LEDGER_VERSION,
        "jobs": ledger.jobs,
        "apply_failure": ledger.apply_failure,
    }
    return json.dumps(document, sort_keys=True).encode()


def _write(path: Path, encoded: bytes) -> None:
    sealed = seal(_PURPOSE, encoded)
    if sealed is not None:
        replace_file(path, sealed)


def _open_lock(path: Path) -> BinaryIO:
    """The lock file, made when missing; raises ``OSError`` when it is a symlink or not a
    regular file."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    lock = os.fdopen(descriptor, "r+b")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        lock.close()
        raise OSError(f"{path} is not a regular file")
    return lock


@contextlib.contextmanager
def open_ledger(folder: Path, *, sandbox: bool = False) -> Iterator[Ledger]:
    """The ledger in ``folder`` (the sandbox's, ``sandbox``), held under its lock; written
    back when the block ends without an exception and changed it (a quiet daemon opens it
    twice a round and changes nothing). Raises ``OSError`` when the folder cannot be
    written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (SANDBOX_LEDGER_FILE if sandbox else LEDGER_FILE)
    with _open_lock(folder / LOCK_FILE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ledger = _read(path)
            read = _encoded(ledger)
            yield ledger
            changed = _encoded(ledger)
            if changed != read:
                _write(path, changed)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
