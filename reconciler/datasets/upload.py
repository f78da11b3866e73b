"""Upload bodies: what a provider adapter sends for a local dataset, streamed from disk.

A folder becomes its deterministic zip (``archive.py``); a file (CSV, JSONL, zip) is sent as
is. Either way the body knows its exact size before the first byte (a pre-signed PUT needs a
``Content-Length`` and refuses chunked bodies) and ``chunks()`` can be called again for a
retry, which starts over from the first byte. Given the plan's fingerprint, the body checks
what it streams against it and stops before its last bytes on a mismatch (``integrity.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.datasets.archive import READ_BLOCK, plan_zip
from reconciler.datasets.files import DatasetChangedError, DatasetError
from reconciler.datasets.integrity import FolderCheck, verified_blocks

_CONTENT_TYPES = {
    ".zip": "application/zip",
    ".csv": "text/csv",
    ".jsonl": "application/jsonl",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class UploadBody:
    """A streamed request body: ``chunks()`` yields ``size`` bytes in total, from the start."""

    filename: str
    size: int
    content_type: str
    chunks: Callable[[], Iterator[bytes]]


def _file_chunks(path: Path, size: int, expected: str | None) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        sent = 0
        try:
            with path.open("rb") as handle:
                blocks = (
                    iter(lambda: handle.read(READ_BLOCK), b"")
                    if expected is None
                    else verified_blocks(handle, path, expected, READ_BLOCK)
                )
                for block in blocks:
                    sent += len(block)
                    if sent > size:
                        break
                    yield block
        except OSError as error:
            raise DatasetError(f"{path}: cannot read the file ({error.strerror})") from error
        if sent != size:
            raise DatasetChangedError(
                f"{path}: the file changed size while it was uploaded; run again"
            )

    return chunks


def upload_body(path: Path, fingerprint: str | None = None) -> UploadBody:
    """The upload body of a local dataset: a folder's zip, or a file as it is; with
    ``fingerprint`` (the plan's), one that stops before its end unless its bytes have it.

    For a folder this reads every file once (the zip's CRCs) before returning. Raises
    ``DatasetError`` when the dataset cannot be read.
    """
    if path.is_dir():
        planned = plan_zip(path)

        def zip_chunks() -> Iterator[bytes]:
            check = None if fingerprint is None else FolderCheck(path, fingerprint)
            return planned.chunks(check)

        return UploadBody(
            filename=f"{path.resolve().name}.zip",
            size=planned.size,
            content_type=_CONTENT_TYPES[".zip"],
            chunks=zip_chunks,
        )
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the dataset ({error.strerror})") from error
    return UploadBody(
        filename=path.name,
        size=size,
        content_type=_CONTENT_TYPES.get(path.suffix.lower(), _DEFAULT_CONTENT_TYPE),
        chunks=_file_chunks(path, size, fingerprint),
    )
