"""Unit tests of the sandbox's CSV inspection for Qubrid dataset uploads (no HTTP)."""

from __future__ import annotations

import pytest

from reconcile_sandbox.qubrid.csv_inspection import (
    CsvSummary,
    MalformedCsvError,
    has_csv_extension,
    inspect_csv,
)


def test_counts_records_not_lines() -> None:
    content = b'question,answer\n"two\nlines",a\nq,"with ""quotes"""\n'

    assert inspect_csv(content) == CsvSummary(
        size_bytes=len(content), row_count=2, columns=("question", "answer")
    )


def test_blank_lines_and_a_byte_order_mark_are_tolerated() -> None:
    content = "\ufefftext\r\nhello\r\n\r\nworld\r\n\r\n".encode()

    summary = inspect_csv(content)

    assert summary.columns == ("text",)
    assert summary.row_count == 2


def test_header_names_are_trimmed() -> None:
    assert inspect_csv(b" question , answer \nq,a\n").columns == ("question", "answer")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"   \n", "the file is empty"),
        (b"a,b\n1,2,3\n", "line 2 has 3 fields but the header has 2"),
        (b"a,a\n1,2\n", "line 1: header repeats column name(s) a"),
        (b",b\n1,2\n", "line 1: header column 1 has no name"),
        (b"a\n", "the file has a header but no data rows"),
        (b"a,b\n\x00,1\n", "line 2"),
        (b"caf\xe9\nx\n", "not UTF-8 text (invalid byte at offset 3)"),
    ],
)
def test_malformed_files_are_refused_saying_where(content: bytes, message: str) -> None:
    with pytest.raises(MalformedCsvError) as raised:
        inspect_csv(content)

    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("filename", "accepted"),
    [("a.csv", True), ("A.CSV", True), ("a.csv.gz", False), ("csv", False), ("a.tsv", False)],
)
def test_only_the_csv_extension_is_accepted(filename: str, accepted: bool) -> None:
    assert has_csv_extension(filename) is accepted
