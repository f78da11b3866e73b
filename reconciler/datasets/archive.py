"""The deterministic zip of a dataset folder, streamed, with its exact size known up front.

Segmind takes a folder of images as one zip uploaded with a raw ``PUT`` to a pre-signed URL,
which needs a ``Content-Length`` and refuses a chunked body. So the zip is planned first (its
members, their CRC-32 and its exact size) and then streamed from disk in blocks, as many times
as an upload needs (a retry starts over); memory stays flat whatever the folder's size.

The bytes depend only on the dataset's file set (``files.py``) and contents:

- members sorted by name, names UTF-8 (flag bit 11 always set), no folder entries;
- every member STORED: images are already compressed, and deflate output differs between
  zlib builds (zlib, zlib-ng), which would break byte identity across machines;
- fixed timestamp 1980-01-01 00:00:00 (the zip epoch), permissions 0644, "made by" Unix, no
  extra fields, no comments, CRC and sizes in the local headers (no data descriptors, so
  streaming readers work too).

The format is written here rather than through ``zipfile`` because ``zipfile`` decides header
details (data descriptors when the output cannot seek, version fields, extra fields) by itself
and from one Python version to the next, and offers no size before writing. Zip64 is not
written: a dataset needing it (4 GiB, 65,535 files) is refused, far above what a provider accepts.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from reconciler.datasets.files import (
    DatasetChangedError,
    DatasetError,
    DatasetListing,
    list_dataset,
)

if TYPE_CHECKING:
    from reconciler.datasets.integrity import FolderCheck

READ_BLOCK = 1 << 20

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
_END_OF_CENTRAL_DIRECTORY = struct.Struct("<IHHHHIIH")
_LOCAL_SIGNATURE = 0x04034B50
_CENTRAL_SIGNATURE = 0x02014B50
_END_SIGNATURE = 0x06054B50
_VERSION_NEEDED = 20  # 2.0: the version every unzip reads
_VERSION_MADE_BY = (3 << 8) | 20  # Unix, 2.0: external attributes are Unix modes
_FLAG_UTF8_NAMES = 0x0800
_METHOD_STORED = 0
_DOS_TIME = 0  # 00:00:00
_DOS_DATE = (0 << 9) | (1 << 5) | 1  # 1980-01-01
_EXTERNAL_ATTRIBUTES = 0o100644 << 16  # regular file, rw-r--r--
_ZIP32_LIMIT = 0xFFFFFFFF
_MAX_MEMBERS = 0xFFFF

# The fixed date, as zipfile.ZipInfo.date_time reports it.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ZipMember:
    """One member of the zip: its name, the file it comes from, its size and CRC-32."""

    name: str
    path: Path
    size: int
    crc32: int


def _encoded(name: str) -> bytes:
    return name.encode("utf-8")


def _size_of(members: list[tuple[bytes, int]]) -> int:
    local = sum(_LOCAL_HEADER.size + len(name) + size for name, size in members)
    central = sum(_CENTRAL_HEADER.size + len(name) for name, _ in members)
    return local + central + _END_OF_CENTRAL_DIRECTORY.size


def _check_limits(listing: DatasetListing, size: int) -> None:
    if len(listing.files) > _MAX_MEMBERS or size > _ZIP32_LIMIT:
        raise DatasetError(
            f"{listing.root}: too large to zip ({len(listing.files)} files, {size} bytes);"
            " a zipped dataset must stay under 4 GiB and 65,535 files (ZIP32)"
        )


def zip_size_of_listing(listing: DatasetListing) -> int:
    """The exact size in bytes of the zip of a listed folder, without reading any file."""
    size = _size_of([(_encoded(f.name), f.size) for f in listing.files])
    _check_limits(listing, size)
    return size


def zip_size(folder: Path) -> int:
    """The exact size in bytes of the zip of ``folder``, from its listing alone."""
    return zip_size_of_listing(list_dataset(folder))


def _crc32_of(path: Path) -> tuple[int, int]:
    crc = 0
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(READ_BLOCK):
                crc = zlib.crc32(block, crc)
                size += len(block)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the file ({error.strerror})") from error
    return crc, size


@dataclass(frozen=True)
class DatasetZip:
    """A planned zip: ``size`` is exact, ``chunks()`` streams the bytes from the start."""

    members: tuple[ZipMember, ...]
    size: int

    def chunks(self, check: FolderCheck | None = None) -> Iterator[bytes]:
        """The zip's bytes in blocks of at most 1 MiB; each call starts over.

        Raises ``DatasetChangedError`` if a file no longer matches its planned size and CRC
        (the bytes already produced would be a corrupt zip: plan again), or, with ``check``,
        if the files streamed do not make up the plan's fingerprint (raised before the zip's
        last bytes, so what was sent is never a whole zip).
        """
        central: list[bytes] = []
        offset = 0
        for member in self.members:
            name = _encoded(member.name)
            yield (
                _LOCAL_HEADER.pack(
                    _LOCAL_SIGNATURE,
                    _VERSION_NEEDED,
                    _FLAG_UTF8_NAMES,
                    _METHOD_STORED,
                    _DOS_TIME,
                    _DOS_DATE,
                    member.crc32,
                    member.size,
                    member.size,
                    len(name),
                    0,
                )
                + name
            )
            yield from _member_data(member, check)
            central.append(
                _CENTRAL_HEADER.pack(
                    _CENTRAL_SIGNATURE,
                    _VERSION_MADE_BY,
                    _VERSION_NEEDED,
                    _FLAG_UTF8_NAMES,
                    _METHOD_STORED,
                    _DOS_TIME,
                    _DOS_DATE,
                    member.crc32,
                    member.size,
                    member.size,
                    len(name),
                    0,
                    0,
                    0,
                    0,
                    _EXTERNAL_ATTRIBUTES,
                    offset,
                )
                + name
            )
            offset += _LOCAL_HEADER.size + len(name) + member.size
        if check is not None:
            check.verify()
        directory = b"".join(central)
        yield directory + _END_OF_CENTRAL_DIRECTORY.pack(
            _END_SIGNATURE,
            0,
            0,
            len(self.members),
            len(self.members),
            len(directory),
            offset,
            0,
        )

    def write_to(self, stream: BinaryIO) -> int:
        """Write the whole zip to a binary stream; returns the number of bytes written."""
        written = 0
        for chunk in self.chunks():
            stream.write(chunk)
            written += len(chunk)
        return written


def _member_data(member: ZipMember, check: FolderCheck | None) -> Iterator[bytes]:
    crc = 0
    size = 0
    digest = hashlib.sha256()
    try:
        with member.path.open("rb") as handle:
            while block := handle.read(READ_BLOCK):
                size += len(block)
                if size > member.size:
                    raise _changed_since_planned(member)
                crc = zlib.crc32(block, crc)
                digest.update(block)
                yield block
    except OSError as error:
        raise DatasetError(f"{member.path}: cannot read the file ({error.strerror})") from error
    if size != member.size or crc != member.crc32:
        raise _changed_since_planned(member)
    if check is not None:
        check.add(member.name, size, digest.hexdigest())


def _changed_since_planned(member: ZipMember) -> DatasetChangedError:
    return DatasetChangedError(
        f"{member.path}: the file changed after the zip was planned; run again"
    )


def plan_zip(folder: Path) -> DatasetZip:
    """Plan the deterministic zip of ``folder``: reads every file once, for its CRC-32."""
    listing = list_dataset(folder)
    if not listing.is_folder:
        raise DatasetError(f"{folder}: not a folder; only a folder is zipped")
    members: list[ZipMember] = []
    for file in listing.files:
        crc, size = _crc32_of(file.path)
        members.append(ZipMember(name=file.name, path=file.path, size=size, crc32=crc))
    size = _size_of([(_encoded(m.name), m.size) for m in members])
    _check_limits(listing, size)
    return DatasetZip(members=tuple(members), size=size)


def write_zip(folder: Path, stream: BinaryIO) -> int:
    """Plan the zip of ``folder`` and write it to ``stream``; returns the bytes written."""
    return plan_zip(folder).write_to(stream)
