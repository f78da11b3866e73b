"""Inspection of the CSV datasets uploaded to the emulated Qubrid API.

Qubrid accepts CSV files only and answers 400 for another extension or a malformed file; a stored
dataset reports its size, row count and the column names of its header. This module decides
what "malformed" means for the sandbox, so that a client's own checks can be tested against it:
not UTF-8 text, NUL bytes, broken quoting, a header with empty or duplicate names, a record
whose field count differs from the header's, or no data rows at all. Blank lines are ignored,
as spreadsheet exports often end with one.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class CsvSummary:
    """What the Qubrid Dataset object reports about an uploaded file."""

    size_bytes: int
    row_count: int
    columns: tuple[str, ...]


class MalformedCsvError(ValueError):
    """The upload is not a CSV file Qubrid would accept; the message says why and where."""


def has_csv_extension(filename: str) -> bool:
    """Qubrid decides by extension: anything but ``.csv`` (any case) is refused."""
    return PurePosixPath(filename).suffix.lower() == ".csv"


def inspect_csv(content: bytes) -> CsvSummary:
    """Parse ``content`` as a CSV file with a header row, or raise :class:`MalformedCsvError`."""
    if not content.strip():
        raise MalformedCsvError("the file is empty")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MalformedCsvError(
            f"the file is not UTF-8 text (invalid byte at offset {error.start})"
        ) from error
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise MalformedCsvError(f"line {line} contains a NUL byte; is this a binary file?")

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: tuple[str, ...] | None = None
    row_count = 0
    try:
        for record in reader:
            if not record or all(not field.strip() for field in record):
                continue
            if columns is None:
                columns = _header(record, reader.line_num)
                continue
            if len(record) != len(columns):
                raise MalformedCsvError(
                    f"line {reader.line_num} has {len(record)} fields but the header has "
                    f"{len(columns)}"
                )
            row_count += 1
    except csv.Error as error:
        raise MalformedCsvError(f"line {reader.line_num}: {error}") from error

    if columns is None:
        raise MalformedCsvError("the file has no header row")
    if row_count == 0:
        raise MalformedCsvError("the file has a header but no data rows")
    return CsvSummary(size_bytes=len(content), row_count=row_count, columns=columns)


def _header(record: list[str], line: int) -> tuple[str, ...]:
    names = tuple(field.strip() for field in record)
    for position, name in enumerate(names, start=1):
        if not name:
            raise MalformedCsvError(f"line {line}: header column {position} has no name")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise MalformedCsvError(
            f"line {line}: header repeats column name(s) {', '.join(duplicates)}"
        )
    return names
