"""The lease in a local file, for a checkout with no git remote: ``.reconcile/lease.json``.

Only processes that share this folder see this lease, which is all a checkout without a
remote can offer. The version token is the sha256 of the file's bytes. A swap compares and
replaces under a ``filelock`` on ``lease.lock`` held for the milliseconds of the swap only
(the lease itself is the record, which expires; a process holding the file lock for the whole
apply would be a checkout lock, as ``reconciler.watch.lock``'s, again). It writes through a
temporary file renamed over the old one (``os.replace``), so a reader without the lock sees the
old record or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from reconciler.apply.lease.record import MAX_RECORD_BYTES, LeaseRecord, LeaseRecordError
from reconciler.apply.lease.store import LeaseConflictError, LeaseUnavailableError

LEASE_FILE = "lease.json"
LOCK_FILE = "lease.lock"
# A swap holds the lock for milliseconds; waiting longer means something is wrong.
LOCK_TIMEOUT_SECONDS = 10.0


class LocalFileStore:
    """The lease as ``<state_dir>/lease.json``."""

    def __init__(self, state_dir: Path, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self._dir = state_dir
        self._file = state_dir / LEASE_FILE
        self._lock_file = state_dir / LOCK_FILE
        self._lock_timeout = lock_timeout

    def describe(self) -> str:
        return f"the local lease file {self._file}"

    def read(self) -> tuple[str | None, LeaseRecord | None]:
        try:
            data = self._read_bytes()
        except OSError as error:
            raise self._unavailable("read", error) from None
        if data is None:
            return None, None
        try:
            record = LeaseRecord.from_json(data)
        except LeaseRecordError as error:
            remedy = (
                f"; if no apply is running, delete {self._file} and run again"
                if error.repairable
                else ""
            )
            raise LeaseRecordError(
                f"{self._file} cannot be read: {error}{remedy}", repairable=error.repairable
            ) from None
        return _version(data), record

    def swap(self, expected: str | None, record: LeaseRecord) -> str:
        data = record.to_json()
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            # A swap holds the lock for milliseconds: poll for it as often.
            lock = FileLock(str(self._lock_file), timeout=self._lock_timeout, poll_interval=0.005)
            with lock:
                current = self._read_bytes()
                if (None if current is None else _version(current)) != expected:
                    raise LeaseConflictError(f"{self._file} changed since it was read")
                self._write(data)
        except Timeout:
            raise LeaseUnavailableError(
                f"cannot write the writer lease {self._file}: {self._lock_file} stayed locked"
                f" for {self._lock_timeout:g} s; check for a hung reconcile process"
            ) from None
        except OSError as error:
            raise self._unavailable("write", error) from None
        return _version(data)

    def _read_bytes(self) -> bytes | None:
        try:
            with self._file.open("rb") as handle:
                # One byte over the limit is enough for from_json to refuse the record.
                return handle.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None

    def _write(self, data: bytes) -> None:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept past the block for os.replace)
            dir=self._dir, prefix=".lease.", suffix=".tmp", delete=False
        )
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(handle.name).replace(self._file)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(handle.name).unlink()
            raise

    def _unavailable(self, action: str, error: OSError) -> LeaseUnavailableError:
        return LeaseUnavailableError(
            f"cannot {action} the writer lease {self._file}: {error.strerror or error};"
            f" check that {self._dir} is a writable folder"
        )


def _version(data: bytes) -> str:
    # A file over the size limit compares by its first MAX_RECORD_BYTES + 1 bytes only, and
    # such a file is refused by every reader anyway.
    return hashlib.sha256(data).hexdigest()
