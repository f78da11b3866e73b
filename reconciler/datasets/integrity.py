"""Upload integrity: the bytes an upload sends are the bytes the plan fingerprinted.

A plan fingerprints a dataset (``fingerprint.py``); an apply uploads it later, and the file
may have been edited in between, even to the same size. Every upload body therefore hashes
what it sends, as it sends it, and holds its last bytes back until the hashes make up the
planned fingerprint: on a mismatch it raises ``DatasetChangedError`` instead of sending them,
so the provider receives an incomplete body, stores nothing, and no job is created from it.

- ``FolderCheck`` collects the digest of each file of a folder as the zip streams it
  (``archive.DatasetZip.chunks``) and checks the manifest before the zip's last bytes.
- ``verified_blocks`` streams one file in blocks, checked before the last block.
- ``VerifiedReader`` is the same for a file object that httpx reads for a multipart body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from reconciler.datasets.files import DatasetChangedError
from reconciler.datasets.fingerprint import manifest_bytes


def _changed(path: Path) -> DatasetChangedError:
    return DatasetChangedError(
        f"{path}: the dataset's content is no longer what was planned (its fingerprint"
        " changed); the upload was stopped before its end and nothing was created; plan again"
    )


class FolderCheck:
    """The planned fingerprint of folder ``path`` against the files as they are streamed."""

    def __init__(self, path: Path, expected: str) -> None:
        self.path = path
        self.expected = expected
        self._entries: list[tuple[str, int, str]] = []

    def add(self, name: str, size: int, sha256: str) -> None:
        """One file of the folder, as sent: its name in the folder, size and sha256 hex."""
        self._entries.append((name, size, sha256))

    def verify(self) -> None:
        """Raise ``DatasetChangedError`` unless the files sent make up the planned
        fingerprint."""
        manifest = manifest_bytes(True, self._entries)
        if hashlib.sha256(manifest).hexdigest() != self.expected:
            raise _changed(self.path)


def _file_fingerprint(size: int, sha256: str) -> str:
    return hashlib.sha256(manifest_bytes(False, [("", size, sha256)])).hexdigest()


def verified_blocks(handle: BinaryIO, path: Path, expected: str, block: int) -> Iterator[bytes]:
    """The bytes of ``handle`` in blocks of ``block`` bytes, the last one given only once the
    whole file has been found to have the fingerprint ``expected``."""
    digest = hashlib.sha256()
    size = 0
    held = b""
    while chunk := handle.read(block):
        if held:
            yield held
        digest.update(chunk)
        size += len(chunk)
        held = chunk
    if _file_fingerprint(size, digest.hexdigest()) != expected:
        raise _changed(path)
    if held:
        yield held


class VerifiedReader:
    """A file object over ``handle`` for httpx's multipart bodies: ``read`` gives the file's
    bytes one block behind, and raises ``DatasetChangedError`` in place of the last block when
    the file does not have the fingerprint ``expected``. ``seek(0)`` starts over (httpx seeks
    back to the start for each attempt); ``fileno`` lets httpx take the length from the file."""

    def __init__(self, handle: BinaryIO, path: Path, expected: str) -> None:
        self._handle = handle
        self._path = path
        self._expected = expected
        self._blocks: Iterator[bytes] = iter(())
        self.seek(0)

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            # Only httpx's rewind is supported: a body read from the middle could not be checked.
            raise OSError("a verified upload body can only start over from the beginning")
        position = self._handle.seek(0)
        self._blocks = verified_blocks(self._handle, self._path, self._expected, _BLOCK)
        self._pending = b""
        return position

    def tell(self) -> int:
        return self._handle.tell()

    def fileno(self) -> int:
        return self._handle.fileno()

    def read(self, size: int = -1) -> bytes:
        parts = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        while size < 0 or have < size:
            block = next(self._blocks, b"")
            if not block:
                break
            parts.append(block)
            have += len(block)
        data = b"".join(parts)
        if 0 <= size < len(data):
            data, self._pending = data[:size], data[size:]
        return data


# httpx asks for 64 KiB at a time; reading the file in the same blocks keeps one copy in flight.
_BLOCK = 64 * 1024
