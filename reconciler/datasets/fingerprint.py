"""Content fingerprints of datasets: the same bytes give the same fingerprint on every machine.

The fingerprint is the sha256 of a canonical manifest, a byte string built from the dataset's
file set (see ``files.py``) and nothing else, so mtimes, creation order, umask, owner and the
file system never enter it::

    reconciler-dataset/1 folder\\n              (or "file" for a single-file dataset)
    <sha256 hex> <size> <name>\\0               one per file, sorted by name

``<name>`` is the file's path relative to the folder (POSIX, NFC, UTF-8). A single-file dataset
has one entry with an empty name: its fingerprint depends on its bytes alone, so moving or
renaming a CSV is not a new dataset, while renaming a file inside a folder is (captions pair
with images by name). Entries end in NUL, which no file name can contain.

Per-file digests are read in large blocks on a small thread pool (hashlib releases the GIL
while hashing), and remembered in a ``StatCache`` when the caller passes a cache dir, so an
unchanged dataset is listed and stat-ed but not read again.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from reconciler.datasets.files import (
    DatasetChangedError,
    DatasetError,
    DatasetFile,
    DatasetListing,
    list_dataset,
)
from reconciler.datasets.stat_cache import StatCache

MANIFEST_VERSION = "reconciler-dataset/1"
READ_BLOCK = 1 << 20  # large reads: per-call overhead vanishes next to the hashing

# Short digests go into remote dataset names, which providers cap in length.
SHORT_LENGTH = 12


@dataclass(frozen=True)
class Fingerprint:
    """The content identity of a dataset: manifest sha256, total bytes and number of files."""

    sha256: str
    size: int
    files: int

    @property
    def short(self) -> str:
        """The first 12 hex digits, as carried in remote dataset names."""
        return self.sha256[:SHORT_LENGTH]


@dataclass(frozen=True)
class FileDigest:
    """The sha256 of one file, with when its reading started (for the cache's racy window)."""

    file: DatasetFile  # with the stat of the bytes actually read
    sha256: str
    read_started_ns: int


class _Buffers(threading.local):
    """One read buffer per thread, reused: allocating a fresh MiB per small file costs more
    than reading it."""

    def __init__(self) -> None:
        self.buffer = bytearray(READ_BLOCK)
        self.view = memoryview(self.buffer)


_buffers = _Buffers()


def _workers() -> int:
    # Hashing is CPU-bound once the pages are cached; a couple of extra threads keep the CPUs
    # busy while others wait on the disk.
    return min(8, (os.cpu_count() or 1) + 2)


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_size, before.st_mtime_ns, before.st_ctime_ns, before.st_ino) != (
        after.st_size,
        after.st_mtime_ns,
        after.st_ctime_ns,
        after.st_ino,
    )


def hash_file(file: DatasetFile) -> FileDigest:
    """Read one file and return its sha256, with the stat of what was read."""
    started = time.time_ns()
    buffer, view = _buffers.buffer, _buffers.view
    digest = hashlib.sha256()
    try:
        with file.path.open("rb", buffering=0) as handle:
            before = os.fstat(handle.fileno())
            while count := handle.readinto(buffer):
                digest.update(view[:count])
            after = os.fstat(handle.fileno())
    except OSError as error:
        raise DatasetError(
            f"{file.path}: cannot read the file ({error.strerror}); check its permissions"
        ) from error
    if _changed(before, after):
        raise DatasetChangedError(
            f"{file.path}: the file changed while it was read; run again once it is written"
        )
    read = DatasetFile(
        name=file.name,
        path=file.path,
        size=after.st_size,
        mtime_ns=after.st_mtime_ns,
        ctime_ns=after.st_ctime_ns,
        inode=after.st_ino,
    )
    return FileDigest(read, digest.hexdigest(), started)


def _hash_all(files: list[DatasetFile]) -> list[FileDigest]:
    if len(files) <= 1:
        return [hash_file(f) for f in files]
    # Largest first, so one big file does not start last and leave the other threads idle.
    ordered = sorted(files, key=lambda f: f.size, reverse=True)
    with ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="hash") as pool:
        return list(pool.map(hash_file, ordered))


def manifest_bytes(is_folder: bool, entries: Iterable[tuple[str, int, str]]) -> bytes:
    """The canonical manifest of (name, size, sha256) entries, as documented above."""
    kind = "folder" if is_folder else "file"
    parts = [f"{MANIFEST_VERSION} {kind}\n".encode()]
    for name, size, sha256 in sorted(entries):
        shown = name if is_folder else ""
        parts.append(f"{sha256} {size} {shown}\0".encode())
    return b"".join(parts)


def fingerprint_listing(listing: DatasetListing, *, cache_dir: Path | None = None) -> Fingerprint:
    """Fingerprint an already-listed dataset (see ``fingerprint_dataset``)."""
    cache = StatCache(cache_dir, listing.root) if cache_dir is not None else None
    known: dict[str, tuple[int, str]] = {}
    missing: list[DatasetFile] = []
    for file in listing.files:
        digest = cache.lookup(file) if cache is not None else None
        if digest is None:
            missing.append(file)
        else:
            known[file.name] = (file.size, digest)
    for result in _hash_all(missing):
        known[result.file.name] = (result.file.size, result.sha256)
        if cache is not None:
            cache.remember(result.file, result.sha256, result.read_started_ns)
    if cache is not None:
        cache.save(set(known))
    entries = [(name, size, sha256) for name, (size, sha256) in known.items()]
    manifest = manifest_bytes(listing.is_folder, entries)
    return Fingerprint(
        sha256=hashlib.sha256(manifest).hexdigest(),
        size=sum(size for _, size, _ in entries),
        files=len(entries),
    )


def fingerprint_dataset(path: Path, *, cache_dir: Path | None = None) -> Fingerprint:
    """The content fingerprint of the dataset at ``path`` (a folder or a single file).

    With ``cache_dir`` (normally ``<repo>/.reconcile``), per-file digests are remembered there
    and files whose stat is unchanged are not read again. Raises ``DatasetError`` when the
    dataset cannot be read, ``DatasetChangedError`` when a file changes while it is read.
    """
    return fingerprint_listing(list_dataset(path), cache_dir=cache_dir)
