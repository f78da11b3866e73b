"""Fingerprints and their stat cache: identical across machines, and unchanged files not re-read."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from reconciler.datasets import stat_cache
from reconciler.datasets.archive import plan_zip
from reconciler.datasets.files import DatasetError, list_dataset
from reconciler.datasets.fingerprint import Fingerprint, fingerprint_dataset, manifest_bytes

CONTENTS = {
    "b-photo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
    "a-photo.jpg": b"\xff\xd8\xff\xe0" + b"jpeg body" * 500,
    "a-photo.txt": "photo of TOK, a plush fox — café".encode(),
    "nested/deep.webp": b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"w" * 100,
}


def build(root: Path, order: list[str], umask: int, mtime: int) -> Path:
    """Write CONTENTS under root in the given order, umask and mtime."""
    previous = os.umask(umask)
    try:
        root.mkdir(parents=True)
        for name in order:
            target = root / name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(CONTENTS[name])
            os.utime(target, ns=(mtime, mtime))
    finally:
        os.umask(previous)
    return root


def zip_bytes(folder: Path) -> bytes:
    return b"".join(plan_zip(folder).chunks())


@pytest.fixture
def twin_folders(tmp_path: Path) -> tuple[Path, Path]:
    names = list(CONTENTS)
    first = build(tmp_path / "one", names, 0o022, 1_000_000_000_123_456_789)
    second = build(tmp_path / "elsewhere" / "two", names[::-1], 0o077, 1_700_000_000_987_654_321)
    return first, second


def test_same_content_gives_same_fingerprint_and_zip_bytes_whatever_mtime_order_umask(
    twin_folders: tuple[Path, Path],
) -> None:
    first, second = twin_folders
    # The set-up really differs in what the file system records.
    assert (first / "a-photo.jpg").stat().st_mode != (second / "a-photo.jpg").stat().st_mode
    assert (first / "a-photo.jpg").stat().st_mtime_ns != (second / "a-photo.jpg").stat().st_mtime_ns

    assert fingerprint_dataset(first) == fingerprint_dataset(second)
    assert zip_bytes(first) == zip_bytes(second)


def test_fingerprint_is_sha256_of_the_documented_manifest(tmp_path: Path) -> None:
    folder = build(tmp_path / "d", list(CONTENTS), 0o022, 10**18)
    lines = [b"reconciler-dataset/1 folder\n"]
    for name in sorted(CONTENTS):
        data = CONTENTS[name]
        lines.append(f"{hashlib.sha256(data).hexdigest()} {len(data)} {name}\0".encode())
    expected = hashlib.sha256(b"".join(lines)).hexdigest()

    fingerprint = fingerprint_dataset(folder)

    assert fingerprint == Fingerprint(
        sha256=expected, size=sum(map(len, CONTENTS.values())), files=len(CONTENTS)
    )
    assert fingerprint.short == expected[:12]


def test_manifest_bytes_sorts_entries_and_hides_a_single_files_name() -> None:
    entries = [("b", 1, "0" * 64), ("a", 2, "1" * 64)]
    assert manifest_bytes(True, entries) == (
        b"reconciler-dataset/1 folder\n" + f"{'1' * 64} 2 a\0{'0' * 64} 1 b\0".encode()
    )
    assert manifest_bytes(False, entries[:1]) == (
        b"reconciler-dataset/1 file\n" + f"{'0' * 64} 1 \0".encode()
    )


def test_fingerprint_changes_with_content(twin_folders: tuple[Path, Path]) -> None:
    first, second = twin_folders
    (second / "a-photo.txt").write_bytes(CONTENTS["a-photo.txt"].replace(b"fox", b"cat"))
    assert fingerprint_dataset(first) != fingerprint_dataset(second)


def test_fingerprint_changes_with_a_name_in_a_folder(twin_folders: tuple[Path, Path]) -> None:
    first, second = twin_folders
    (second / "b-photo.png").rename(second / "c-photo.png")
    assert fingerprint_dataset(first).sha256 != fingerprint_dataset(second).sha256


def test_single_file_fingerprint_depends_on_bytes_not_name(tmp_path: Path) -> None:
    one = tmp_path / "train.csv"
    two = tmp_path / "sub" / "renamed.csv"
    two.parent.mkdir()
    one.write_bytes(b"question,answer\nq,a\n")
    two.write_bytes(b"question,answer\nq,a\n")
    assert fingerprint_dataset(one) == fingerprint_dataset(two)
    two.write_bytes(b"question,answer\nq,b\n")
    assert fingerprint_dataset(one) != fingerprint_dataset(two)


def test_a_single_file_and_a_folder_holding_it_differ(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "x.csv").write_bytes(b"text\nhello\n")
    assert fingerprint_dataset(folder) != fingerprint_dataset(folder / "x.csv")


def test_hidden_files_and_os_litter_are_left_out_everywhere(
    twin_folders: tuple[Path, Path],
) -> None:
    first, second = twin_folders
    (second / ".DS_Store").write_bytes(b"junk")
    (second / "._b-photo.png").write_bytes(b"resource fork")
    (second / "Thumbs.db").write_bytes(b"junk")
    (second / "nested" / "desktop.ini").write_bytes(b"junk")
    (second / ".git").mkdir()
    (second / ".git" / "HEAD").write_bytes(b"ref")
    (second / "__MACOSX").mkdir()
    (second / "__MACOSX" / "x").write_bytes(b"junk")

    assert fingerprint_dataset(first) == fingerprint_dataset(second)
    assert zip_bytes(first) == zip_bytes(second)
    assert [f.name for f in list_dataset(second).files] == sorted(CONTENTS)


def test_empty_folders_do_not_count(twin_folders: tuple[Path, Path]) -> None:
    first, second = twin_folders
    (second / "empty").mkdir()
    assert fingerprint_dataset(first) == fingerprint_dataset(second)


def test_names_are_unicode_normalised(tmp_path: Path) -> None:
    composed = unicodedata.normalize("NFC", "café.png")
    decomposed = unicodedata.normalize("NFD", "café.png")
    assert composed != decomposed
    for folder, name in ((tmp_path / "nfc", composed), (tmp_path / "nfd", decomposed)):
        folder.mkdir()
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\nimage")
    assert fingerprint_dataset(tmp_path / "nfc") == fingerprint_dataset(tmp_path / "nfd")
    assert zip_bytes(tmp_path / "nfc") == zip_bytes(tmp_path / "nfd")


def test_symbolic_links_are_not_followed(twin_folders: tuple[Path, Path], tmp_path: Path) -> None:
    first, second = twin_folders
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"outside the dataset")
    (second / "link.txt").symlink_to(outside)
    assert fingerprint_dataset(first) == fingerprint_dataset(second)
    assert list_dataset(second).links == ("link.txt",)


def test_missing_dataset_raises_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="nothing-here"):
        fingerprint_dataset(tmp_path / "nothing-here")


# The stat cache ------------------------------------------------------------------------------


class OpenCounter:
    """Counts the files opened through pathlib (all dataset reads go through Path.open)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[Path] = []
        real_open = pathlib.Path.open

        def counting_open(path: Path, *args: object, **kwargs: object):
            self.opened.append(Path(path))
            return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(pathlib.Path, "open", counting_open)

    def reads_under(self, root: Path) -> list[Path]:
        return [p for p in self.opened if root in p.parents]


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # Files written by a test are seconds old at most; the cache would (rightly) not trust them.
    monkeypatch.setattr(stat_cache, "RACY_WINDOW_NS", 0)


def test_warm_fingerprint_reads_no_file(
    twin_folders: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_racy_window: None,
) -> None:
    folder, _ = twin_folders
    cache = tmp_path / ".reconcile"
    counter = OpenCounter(monkeypatch)

    cold = fingerprint_dataset(folder, cache_dir=cache)
    assert len(counter.reads_under(folder)) == len(CONTENTS)

    counter.opened.clear()
    warm = fingerprint_dataset(folder, cache_dir=cache)
    assert counter.reads_under(folder) == []
    assert warm == cold == fingerprint_dataset(folder)


def test_only_the_changed_file_is_read_again(
    twin_folders: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_racy_window: None,
) -> None:
    folder, twin = twin_folders
    cache = tmp_path / ".reconcile"
    fingerprint_dataset(folder, cache_dir=cache)
    counter = OpenCounter(monkeypatch)

    # Same size, same mtime: only ctime (and content) moves, which the key must catch.
    target = folder / "a-photo.txt"
    stat = target.stat()
    target.write_bytes(CONTENTS["a-photo.txt"].replace(b"fox", b"cat"))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    counter.opened.clear()

    changed = fingerprint_dataset(folder, cache_dir=cache)
    assert counter.reads_under(folder) == [target]
    assert changed == fingerprint_dataset(folder)
    assert changed != fingerprint_dataset(twin)


def test_recently_written_files_are_not_remembered(
    twin_folders: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = twin_folders  # written just now: inside the default racy window
    cache = tmp_path / ".reconcile"
    fingerprint_dataset(folder, cache_dir=cache)
    counter = OpenCounter(monkeypatch)
    fingerprint_dataset(folder, cache_dir=cache)
    assert len(counter.reads_under(folder)) == len(CONTENTS)


def cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "fingerprints").glob("*.json"))


def read_sealed(cache_file: Path) -> Any:
    """The document of a cache file this machine sealed (``stat_cache.seal``)."""
    body = stat_cache.unseal(b"fingerprints", cache_file.read_bytes())
    assert body is not None, "the cache file is not sealed with this machine's key"
    return json.loads(body)


def write_sealed(cache_file: Path, document: Any) -> None:
    sealed = stat_cache.seal(b"fingerprints", json.dumps(document).encode())
    assert sealed is not None
    cache_file.write_bytes(sealed)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"format": 1, "root": "/elsewhere", "files": {}}',
        b'{"format": 1, "files": {"a-photo.txt": ["x"]}}',
        b'{"format": 99, "files": {}}',
    ],
)
def test_a_corrupt_cache_is_ignored_and_replaced(
    twin_folders: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_racy_window: None,
    garbage: bytes,
) -> None:
    folder, _ = twin_folders
    cache = tmp_path / ".reconcile"
    expected = fingerprint_dataset(folder, cache_dir=cache)
    [cache_file] = cache_files(cache)
    cache_file.write_bytes(garbage)

    assert fingerprint_dataset(folder, cache_dir=cache) == expected
    document = read_sealed(cache_file)
    assert sorted(document["files"]) == sorted(CONTENTS)
    counter = OpenCounter(monkeypatch)
    assert fingerprint_dataset(folder, cache_dir=cache) == expected
    assert counter.reads_under(folder) == []


def test_a_wrong_digest_in_a_well_formed_cache_is_trusted_only_while_stat_matches(
    twin_folders: tuple[Path, Path], tmp_path: Path, no_racy_window: None
) -> None:
    # Proves the cache is what answers a warm run (and so that its key must be right).
    folder, _ = twin_folders
    cache = tmp_path / ".reconcile"
    honest = fingerprint_dataset(folder, cache_dir=cache)
    [cache_file] = cache_files(cache)
    document = read_sealed(cache_file)
    document["files"]["a-photo.txt"][4] = "0" * 64
    write_sealed(cache_file, document)
    assert fingerprint_dataset(folder, cache_dir=cache) != honest

    os.utime(folder / "a-photo.txt", ns=(1, 1))
    assert fingerprint_dataset(folder, cache_dir=cache) == honest


def test_cache_forgets_deleted_files_and_leaves_no_temporary_files(
    twin_folders: tuple[Path, Path], tmp_path: Path, no_racy_window: None
) -> None:
    folder, _ = twin_folders
    cache = tmp_path / ".reconcile"
    fingerprint_dataset(folder, cache_dir=cache)
    (folder / "nested" / "deep.webp").unlink()
    fingerprint_dataset(folder, cache_dir=cache)
    [cache_file] = cache_files(cache)
    assert "nested/deep.webp" not in read_sealed(cache_file)["files"]
    assert sorted(p.name for p in (cache / "fingerprints").iterdir()) == [cache_file.name]


def test_an_unwritable_cache_dir_is_not_an_error(
    twin_folders: tuple[Path, Path], tmp_path: Path, no_racy_window: None
) -> None:
    folder, _ = twin_folders
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"a file where the cache dir should be")
    assert fingerprint_dataset(folder, cache_dir=blocker) == fingerprint_dataset(folder)


def test_two_datasets_share_a_cache_dir_without_mixing(
    twin_folders: tuple[Path, Path], tmp_path: Path, no_racy_window: None
) -> None:
    first, second = twin_folders
    (second / "a-photo.txt").write_bytes(b"different caption")
    cache = tmp_path / ".reconcile"
    one = fingerprint_dataset(first, cache_dir=cache)
    two = fingerprint_dataset(second, cache_dir=cache)
    assert one != two
    assert len(cache_files(cache)) == 2
    assert fingerprint_dataset(first, cache_dir=cache) == one
    assert fingerprint_dataset(second, cache_dir=cache) == two


def test_concurrent_writers_leave_a_valid_cache(
    twin_folders: tuple[Path, Path], tmp_path: Path, no_racy_window: None
) -> None:
    folder, _ = twin_folders
    cache = tmp_path / ".reconcile"
    expected = fingerprint_dataset(folder)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: fingerprint_dataset(folder, cache_dir=cache), range(32)))
    assert set(results) == {expected}
    [cache_file] = cache_files(cache)
    assert sorted(read_sealed(cache_file)["files"]) == sorted(CONTENTS)
    assert [p.name for p in (cache / "fingerprints").iterdir()] == [cache_file.name]
