"""The deterministic zip and the upload bodies: exact sizes, fixed bytes, restartable streams."""

from __future__ import annotations

import io
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.datasets.archive import plan_zip, write_zip, zip_size
from reconciler.datasets.files import DatasetChangedError, DatasetError
from reconciler.datasets.upload import upload_body

FILES = {
    "b.png": b"\x89PNG\r\n\x1a\n" + b"\x00\x01" * 3000,
    "a.jpg": b"\xff\xd8\xff" + b"j" * 70_000,
    "a.txt": "a plush fox, café".encode(),
    "Z-upper.webp": b"RIFF\x00\x00\x00\x00WEBP" + b"w" * 10,
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "mascot"
    root.mkdir()
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    return root


def written(folder: Path) -> bytes:
    out = io.BytesIO()
    write_zip(folder, out)
    return out.getvalue()


def test_predicted_size_is_the_real_size(folder: Path) -> None:
    data = written(folder)
    assert zip_size(folder) == plan_zip(folder).size == len(data)


def test_predicted_size_is_exact_for_an_empty_and_a_larger_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert zip_size(empty) == len(written(empty)) == 22
    big = tmp_path / "big"
    big.mkdir()
    for index in range(30):
        (big / f"image-{index:03d}-ünïcode.png").write_bytes(bytes([index]) * (index * 50_000))
    assert zip_size(big) == len(written(big))


def test_zip_reads_back_with_entries_stored_sorted_and_fixed(folder: Path) -> None:
    archive = zipfile.ZipFile(io.BytesIO(written(folder)))
    assert archive.testzip() is None
    infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(FILES)
    for info in infos:
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == 3
        assert info.flag_bits & 0x0800  # UTF-8 names
        assert archive.read(info) == FILES[info.filename]


def test_local_headers_carry_the_crc_so_streaming_readers_work(folder: Path) -> None:
    data = written(folder)
    # No data descriptor flag (bit 3) in any local header.
    offset = 0
    for name in sorted(FILES):
        assert data[offset : offset + 4] == b"PK\x03\x04"
        flags = int.from_bytes(data[offset + 6 : offset + 8], "little")
        assert not flags & 0x08
        name_length = int.from_bytes(data[offset + 26 : offset + 28], "little")
        offset += 30 + name_length + len(FILES[name])


def test_chunks_restart_from_the_beginning_and_stay_small(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "large.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * (3 * 1024 * 1024))
    planned = plan_zip(root)
    first = list(planned.chunks())
    second = list(planned.chunks())
    assert b"".join(first) == b"".join(second)
    assert len(b"".join(first)) == planned.size
    assert max(len(chunk) for chunk in first) <= 1024 * 1024 + 100


def test_a_file_changed_after_planning_is_refused(folder: Path) -> None:
    planned = plan_zip(folder)
    (folder / "a.txt").write_bytes("a plush cat, café".encode())  # same size, new bytes
    with pytest.raises(DatasetChangedError, match=r"a\.txt"):
        b"".join(planned.chunks())


def test_a_file_grown_after_planning_is_refused(folder: Path) -> None:
    planned = plan_zip(folder)
    (folder / "b.png").write_bytes(FILES["b.png"] + b"more")
    with pytest.raises(DatasetChangedError, match=r"b\.png"):
        b"".join(planned.chunks())


def test_plan_zip_refuses_a_file(tmp_path: Path) -> None:
    single = tmp_path / "x.zip"
    single.write_bytes(b"PK")
    with pytest.raises(DatasetError, match="not a folder"):
        plan_zip(single)


# Upload bodies -------------------------------------------------------------------------------


def test_upload_body_of_a_folder_is_its_zip(folder: Path) -> None:
    body = upload_body(folder)
    assert body.filename == "mascot.zip"
    assert body.content_type == "application/zip"
    data = b"".join(body.chunks())
    assert data == written(folder)
    assert body.size == len(data)
    assert b"".join(body.chunks()) == data


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("train.csv", "text/csv"),
        ("chat.JSONL", "application/jsonl"),
        ("images.zip", "application/zip"),
        ("notes.bin", "application/octet-stream"),
    ],
)
def test_upload_body_of_a_file_streams_it_as_is(
    tmp_path: Path, name: str, content_type: str
) -> None:
    path = tmp_path / name
    content = b"line\n" * 500_000  # 2.5 MB: several chunks
    path.write_bytes(content)
    body = upload_body(path)
    assert (body.filename, body.size, body.content_type) == (name, len(content), content_type)
    chunks = list(body.chunks())
    assert len(chunks) > 1
    assert b"".join(chunks) == content
    assert b"".join(body.chunks()) == content  # a retry starts over


def test_upload_body_of_a_file_that_changes_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(b"text\nhello\n")
    body = upload_body(path)
    path.write_bytes(b"text\nhello\nmore\n")
    with pytest.raises(DatasetChangedError):
        b"".join(body.chunks())
    path.write_bytes(b"text\n")
    with pytest.raises(DatasetChangedError):
        b"".join(body.chunks())


def test_upload_body_of_a_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"gone\.csv"):
        upload_body(tmp_path / "gone.csv")


names = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x2FF),
    min_size=1,
    max_size=20,
)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(names, st.binary(max_size=3000), max_size=8))
def test_any_folder_zips_to_its_predicted_size_and_reads_back(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "d"
        root.mkdir()
        expected: dict[str, bytes] = {}
        for name, data in files.items():
            normal = unicodedata.normalize("NFC", f"{name}.png")
            if normal.casefold() in {n.casefold() for n in expected}:
                continue  # one file system could not hold both
            (root / normal).write_bytes(data)
            expected[normal] = data
        data = written(root)
        assert len(data) == zip_size(root)
        archive = zipfile.ZipFile(io.BytesIO(data))
        assert archive.testzip() is None
        assert archive.namelist() == sorted(expected)
        assert {name: archive.read(name) for name in archive.namelist()} == expected
