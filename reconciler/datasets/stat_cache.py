"""The hash cache, and what every cache file under ``.reconcile/`` shares: its key and seal.

**The hash cache**: per-file sha256 digests remembered by stat, so unchanged files are not
re-read. One small JSON file per dataset root under ``<cache dir>/fingerprints/`` (the caller
passes the cache dir, normally ``<repo>/.reconcile``). An entry is trusted only while the
file's size, mtime_ns, inode and ctime_ns are all unchanged: an edit, a ``touch``, a rename
over the file or a ``git checkout`` changes at least one of them.

**What every cache file shares** (this one and ``reconciler.specs.cache``'s): the repository
is untrusted input (DESIGN.md, principle 9), and a cache file is a file in its folder that a
commit could hold. So a cache decides nothing unless this machine wrote it:

- every cache file is *sealed*: its first line is an HMAC-SHA256 of the rest under a key kept
  outside the repository (``$XDG_CACHE_HOME/reconcile/cache.key``, else
  ``~/.cache/reconcile/cache.key``; created 0600 on first use, never overwritten). A file
  whose seal does not verify, or any file when there is no usable key, is a miss;
- cache files are read without following a symlink, and only when they are regular files of
  bounded size (a link to ``/dev/zero`` or a FIFO is a miss, not a hang);
- a cache file is never written through a symlinked folder, and a ``.reconcile`` folder made
  here carries a ``.gitignore`` of ``*``, so its files are never committed by accident.

Every failure degrades to a miss: a missing, unreadable, corrupt or unsealed file is ignored,
and a failed write is dropped. Writes go to a temporary file then ``os.replace``, so a reader
(another process) sees the old file or the new one, never half of one; when two processes
write, the last one wins and the other's new entries are simply hashed again next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path
from typing import Any

from reconciler import fast_json
from reconciler.datasets.files import DatasetFile

_FORMAT = 2  # 2: sealed

# A file whose mtime or ctime is this close to the moment it was read may still be written to
# within the same timestamp tick (Linux stamps with a coarse clock; FAT keeps 2 s): such a
# digest is used but not remembered, or a same-size edit in that tick would go unseen.
RACY_WINDOW_NS = 2_000_000_000

STATE_DIR_NAME = ".reconcile"
STATE_IGNORE = "# written by reconcile: this machine's caches and state, never committed\n*\n"
KEY_BYTES = 32
# Far beyond the validation cache of 10,000 specs (about 10 MB); a bigger "cache" is not ours.
MAX_CACHE_FILE_BYTES = 256 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

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
        document = read_sealed_json(_FINGERPRINTS, self._file)
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
        sealed = seal(_FINGERPRINTS, json.dumps(document, separators=(",", ":")).encode())
        if sealed is not None:
            write_cache_file(self._file, sealed)


_FINGERPRINTS = b"fingerprints"


# --- The key and the seal ---------------------------------------------------------------------


def cache_key_file() -> Path | None:
    """Where the cache key lives: ``$XDG_CACHE_HOME/reconcile/cache.key`` (the variable is
    used only when absolute, as the XDG spec says), else ``~/.cache/reconcile/cache.key``;
    None when there is no home folder either."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # noqa: PTH117 (a string from the environment)
        try:
            return Path.home() / ".cache" / "reconcile" / "cache.key"
        except RuntimeError:
            return None
    return Path(base) / "reconcile" / "cache.key"


# Read once per process for each place it may be: a plan seals or checks a cache file per
# dataset, and the key does not change under a running process unless someone deletes it
# (then this process's files are misses for the others, and theirs for it: no harm).
_keys: dict[Path, bytes | None] = {}


def cache_key() -> bytes | None:
    """This machine's cache key (``cache_key_file``), created on first use; None when it
    cannot be read or made (then no cache is read or written: every run validates afresh)."""
    file = cache_key_file()
    if file is None:
        return None
    if file not in _keys:
        found = _read_key(file)
        if found is _MISSING:
            found = _create_key(file)
        _keys[file] = found if isinstance(found, bytes) else None
    return _keys[file]


_MISSING = object()


def _read_key(file: Path) -> bytes | object | None:
    """The key in ``file``; ``_MISSING`` when there is none; None when the file is not one
    this user wrote for itself alone (another owner, readable by others, a link, another
    size): such a file is left alone, and the caches are not used."""
    try:
        descriptor = os.open(file, _OPEN_FLAGS)
    except FileNotFoundError:
        return _MISSING
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        found = os.fstat(descriptor)
        if (
            not stat.S_ISREG(found.st_mode)
            or found.st_uid != os.geteuid()
            or found.st_mode & 0o077
            or found.st_size != KEY_BYTES
        ):
            return None
        key = stream.read(KEY_BYTES + 1)
    return key if len(key) == KEY_BYTES else None


def _create_key(file: Path) -> bytes | None:
    """A new random key in ``file``, made 0600 and complete before it appears there; when
    another process made one meanwhile, that one."""
    import secrets  # only the first run on a machine makes a key
    import tempfile

    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(secrets.token_bytes(KEY_BYTES))
                out.flush()
                os.fsync(out.fileno())
            # A hard link appears whole and never replaces a key another process made first.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, file)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)  # noqa: PTH108 (a string from mkstemp)
    except OSError:
        return None
    found = _read_key(file)
    return found if isinstance(found, bytes) else None


def seal(purpose: bytes, body: bytes) -> bytes | None:
    """``body`` behind its seal (see the module docstring), or None without a key.
    ``purpose`` names the kind of file, so one kind can never pass for another."""
    key = cache_key()
    if key is None:
        return None
    return _mac(key, purpose, body) + b"\n" + body


def unseal(purpose: bytes, data: bytes | None) -> bytes | None:
    """The body of sealed ``data`` when its seal verifies under this machine's key."""
    if data is None:
        return None
    key = cache_key()
    if key is None:
        return None
    mac, newline, body = data.partition(b"\n")
    if not newline or not hmac.compare_digest(mac, _mac(key, purpose, body)):
        return None
    return body


def read_sealed_json(purpose: bytes, file: Path | None) -> Any:
    """The JSON document in cache file ``file`` when this machine sealed it for ``purpose``;
    None when there is no file, or it is unsealed, unreadable or not JSON (a miss)."""
    body = None if file is None else unseal(purpose, read_cache_file(file))
    if body is None:
        return None
    try:
        return fast_json.loads(body)
    except ValueError:
        return None


def _mac(key: bytes, purpose: bytes, body: bytes) -> bytes:
    digest = hmac.new(key, purpose + b"\n", hashlib.sha256)
    digest.update(body)
    return digest.hexdigest().encode()


# --- Reading and writing cache files ----------------------------------------------------------


def read_cache_file(file: Path) -> bytes | None:
    """The bytes of ``file`` when it is a regular file (not a link, a FIFO or a device) of at
    most ``MAX_CACHE_FILE_BYTES``; None otherwise. Never blocks on a FIFO."""
    try:
        descriptor = os.open(file, _OPEN_FLAGS)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        try:
            found = os.fstat(descriptor)
            if not stat.S_ISREG(found.st_mode) or found.st_size > MAX_CACHE_FILE_BYTES:
                return None
            data = stream.read(MAX_CACHE_FILE_BYTES + 1)
        except OSError:
            return None
    return data if len(data) <= MAX_CACHE_FILE_BYTES else None


def linked_state_folder(folder: Path) -> Path | None:
    """The first of ``folder`` and its parents up to the nearest one named ``.reconcile``
    (only ``folder`` itself when none is) that is a symlink; None when none is, or when they
    do not exist yet. Above ``.reconcile`` are the repository and where it lives, which may
    well be reached through links."""
    chain: list[Path] = []
    for current in (folder, *folder.parents):
        chain.append(current)
        if current.name == STATE_DIR_NAME:
            break
    else:
        chain = [folder]
    for current in chain:
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return current
    return None


def make_folder(folder: Path) -> None:
    """``folder.mkdir(parents=True, exist_ok=True)``, where a ``.reconcile`` folder made here
    gets its ``.gitignore`` first. Raises ``OSError``."""
    missing = []
    for current in (folder, *folder.parents):
        if current.is_dir():
            break
        missing.append(current)
    for current in reversed(missing):
        current.mkdir(exist_ok=True)
        if current.name == STATE_DIR_NAME:
            ignore = current / ".gitignore"
            with contextlib.suppress(FileExistsError), ignore.open("x", encoding="utf-8") as out:
                out.write(STATE_IGNORE)


def write_cache_file(file: Path, data: bytes) -> None:
    """Replace ``file`` with ``data`` in one step (``replace_file``). Nothing is written through
    a symlinked folder (``linked_state_folder``). A cache that cannot be written is no error:
    nothing is raised."""
    if linked_state_folder(file.parent) is not None:
        return
    with contextlib.suppress(OSError):
        make_folder(file.parent)
        replace_file(file, data)


def replace_file(file: Path, data: bytes) -> None:
    """Replace ``file`` with ``data`` in one step: a reader sees the old file or the new one,
    never half of one. Raises ``OSError``; no temporary file is left behind."""
    import tempfile  # only a changed file is written; a warm run never needs it

    handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        Path(temporary).replace(file)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
