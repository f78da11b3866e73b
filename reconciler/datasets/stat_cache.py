"""The hash cache: per-file sha256 digests remembered by stat, so unchanged files are not re-read.

One small JSON file per dataset root under ``<cache dir>/fingerprints/`` (the caller passes
the cache dir, normally ``<repo>/.reconcile``). An entry is trusted only while the file's
size, mtime_ns, inode and ctime_ns are all unchanged: an edit, a ``touch``, a rename over the
file or a ``git checkout`` changes at least one of them.

The cache is an optimisation, never a source of truth, so every failure degrades to a miss:
a missing, unreadable or corrupt file is ignored, and a failed write is dropped. Writes go to a
temporary file then ``os.replace``, so a reader (another process) sees the old file or the new
one, never half of one; when two processes write, the last one wins and the other's new entries
are simply hashed again next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from reconciler import fast_json
from reconciler.datasets.files import DatasetFile

_FORMAT = 1

# A file whose mtime or ctime is this close to the moment it was read may still be written to
# within the same timestamp tick (Linux stamps with a coarse clock; FAT keeps 2 s): such a
# digest is used but not remembered, or a same-size edit in that tick would go unseen.
RACY_WINDOW_NS = 2_000_000_000

# size, mtime_ns, inode, ctime_ns
StatKey = tuple[int, int, int, int]


def stat_key(file: DatasetFile) -> StatKey:
    return (file.size, file.mtime_ns, file.inode, file.ctime_ns)


def _valid_entry(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 5
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value[:4])
        and isinstance(value[4], str)
        and len(value[4]) == 64
    )


class StatCache:
    """The remembered digests of one dataset root."""

    def __init__(self, cache_dir: Path, root: Path) -> None:
        absolute = str(root.resolve())
        key = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self._file = cache_dir / "fingerprints" / f"{key}.json"
        self._root = absolute
        self._loaded: dict[str, tuple[StatKey, str]] = self._load()
        self._current: dict[str, tuple[StatKey, str]] = {}
        self._changed = False

    @property
    def file(self) -> Path:
        return self._file

    def _load(self) -> dict[str, tuple[StatKey, str]]:
        try:
            document = fast_json.loads(self._file.read_bytes())
        except (OSError, ValueError):
            return {}
        if (
            not isinstance(document, dict)
            or document.get("format") != _FORMAT
            or document.get("root") != self._root
            or not isinstance(document.get("files"), dict)
        ):
            return {}
        entries: dict[str, tuple[StatKey, str]] = {}
        for name, value in document["files"].items():
            if _valid_entry(value):
                entries[name] = ((value[0], value[1], value[2], value[3]), value[4])
        return entries

    def lookup(self, file: DatasetFile) -> str | None:
        """The remembered digest of ``file`` if its stat is unchanged, else None."""
        entry = self._loaded.get(file.name)
        if entry is None or entry[0] != stat_key(file):
            return None
        self._current[file.name] = entry
        return entry[1]

    def remember(self, file: DatasetFile, digest: str, read_started_ns: int) -> None:
        """Remember a digest just computed, unless the file was written too recently."""
        newest = max(file.mtime_ns, file.ctime_ns)
        if newest >= read_started_ns - RACY_WINDOW_NS:
            self._changed = True  # an old entry for this name, if any, must go
            return
        self._current[file.name] = (stat_key(file), digest)
        self._changed = True

    def save(self, names: set[str]) -> None:
        """Write the entries of ``names`` (the dataset's current files) if anything changed."""
        if not self._changed and names == set(self._loaded):
            return
        files = {
            name: [*key, digest]
            for name, (key, digest) in sorted(self._current.items())
            if name in names
        }
        document = {"format": _FORMAT, "root": self._root, "files": files}
        write_cache_file(self._file, json.dumps(document, separators=(",", ":")).encode())


def write_cache_file(file: Path, data: bytes) -> None:
    """Replace ``file`` with ``data`` in one step (a reader sees the old file or the new one,
    never half of one). A cache that cannot be written is no error: nothing is raised."""
    import tempfile  # only a changed cache is written; a warm run never needs it

    with contextlib.suppress(OSError):
        file.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            Path(temporary).replace(file)
        except OSError:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise  # dropped by the outer suppress
