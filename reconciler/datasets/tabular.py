"""CSV datasets read as records, with the header and every row checked along the way.

Shared by the Qubrid and Cohere checks. The file is parsed by the ``csv`` module (standard
dialect: comma, double quotes) through ``lines.read_lines``, so it streams with bounded memory;
a quoted field may span lines, and ``csv``'s own field size limit stops an unclosed quote from
swallowing the rest of the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from reconciler.datasets.lines import read_lines
from reconciler.datasets.problems import ProblemLog


def _physical_lines(path: Path, log: ProblemLog) -> Iterator[str]:
    for _, text in read_lines(path, log):
        yield text


def csv_records(
    path: Path,
    log: ProblemLog,
    required: Sequence[str],
    header_hint: str,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, {column: value})`` for each row whose required cells are all filled.

    The first row is the header and must name every column in ``required`` (other columns are
    allowed and ignored). Each problem goes to ``log``: no header or missing columns (with
    ``header_hint`` saying what to write), a row whose field count differs from the header's,
    an empty required cell, a parse error (which ends the reading: everything after an
    unbalanced quote would be misread).
    """
    reader = csv.reader(_physical_lines(path, log), strict=True)
    header: list[str] | None = None
    positions: dict[str, int] = {}
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            log.add(
                start,
                f"not valid CSV ({error}); check the quotes from this line on: a field"
                " holding a comma, a quote or a line break goes in double quotes,"
                ' with " written as ""',
            )
            return
        if header is None:
            header = [cell.strip() for cell in row]
            if not _header_is_usable(header, required, start, log, header_hint):
                return
            positions = {name: header.index(name) for name in required}
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if len(row) != len(header):
            log.add(
                start,
                f"{len(row)} fields, but the header has {len(header)}; put a field that"
                " holds a comma in double quotes",
            )
            continue
        empty = [name for name in required if not row[positions[name]].strip()]
        if empty:
            names = ", ".join(repr(name) for name in empty)
            log.add(start, f"empty {names}: fill it in or remove the row")
            continue
        yield start, {name: row[positions[name]] for name in required}
    if header is None and not log:
        log.add(None, f"the file is empty; {header_hint}")


def _header_is_usable(
    header: list[str],
    required: Sequence[str],
    line: int,
    log: ProblemLog,
    hint: str,
) -> bool:
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        log.add(line, f"the header names {', '.join(map(repr, duplicates))} more than once")
    missing = [name for name in required if name not in header]
    if missing:
        found = ",".join(header)
        log.add(
            line,
            f"the header (first line) is {found!r} and lacks"
            f" {', '.join(map(repr, missing))}; {hint}",
        )
    return not duplicates and not missing
