"""The validation cache: what a warm load skips, and every change that must make it look again."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.config import read_settings
from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.spec import DatasetKind, DatasetRef, FineTuneSpec, SourceLocation
from reconciler.datasets import stat_cache
from reconciler.providers import dataset_checks
from reconciler.specs import cache as cache_module
from reconciler.specs import dataset_paths, load_specs, loader, open_validation_cache
from reconciler.specs.cache import CACHE_FILE_NAME, CachedSpec, ValidationCache, cache_context
from reconciler.specs.dataset_paths import RealPaths
from reconciler.yamlio import yaml_source

HEADER = "apiVersion: reconciler/v1\nkind: FineTune\n"
QUBRID = (
    HEADER + "name: {name}\nprovider: qubrid\nbase_model: m\ndataset: {dataset}\ntask_type: qa\n"
)
SEGMIND = (
    HEADER + "name: {name}\nprovider: segmind\nbase_model: FLUX_PRO\ndataset: {dataset}\n"
    "trigger_word: TOK\ninstance_prompt: photo of TOK\n"
)
GOOD_CSV = "question,answer\n" + "".join(f'"Q {n}?","A {n}."\n' for n in range(3))
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e527de00000000"
    "49454e44ae426082"
)


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # Files written by a test are moments old; the cache would (rightly) not trust their stat.
    monkeypatch.setattr(stat_cache, "RACY_WINDOW_NS", 0)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "specs").mkdir()
    (root / "datasets").mkdir()
    (root / "datasets" / "qa.csv").write_text(GOOD_CSV)
    (root / "specs" / "qa.yaml").write_text(QUBRID.format(name="qa", dataset="../datasets/qa.csv"))
    monkeypatch.chdir(root)
    return root


class Calls:
    """Counts calls of a function replaced on a module, passing them through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        self.count = 0
        original = getattr(module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


def problems_of_loading() -> str:
    """The diagnostics of loading ``specs/``, which must fail, one per line."""
    with pytest.raises(InvalidInputError) as raised:
        load_specs([Path("specs")])
    return "\n".join(str(diagnostic) for diagnostic in raised.value.diagnostics)


def cache_file(root: Path) -> Path:
    return root / ".reconcile" / CACHE_FILE_NAME


def cache_document(root: Path) -> dict[str, Any]:
    body = cache_file(root).read_bytes().partition(b"\n")[2]
    document: dict[str, Any] = json.loads(body)
    return document


# --- What a warm load skips ----------------------------------------------------------------


def test_a_warm_load_parses_nothing_and_gives_the_same_specs(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    cold = load_specs([Path("specs")])
    parses = Calls(monkeypatch, yaml_source, "parse_yaml_text")
    checks = Calls(monkeypatch, dataset_checks, "check_dataset")
    warm = load_specs([Path("specs")])
    assert warm == cold
    assert (parses.count, checks.count) == (0, 0)
    assert load_specs([Path("specs")], use_cache=False) == cold
    assert parses.count == 1 and checks.count == 1


def test_a_warm_run_imports_neither_yaml_nor_jsonschema(repo: Path, no_racy_window: None) -> None:
    from reconciler.config import load_settings
    from reconciler.specs import desired

    desired.load_desired(load_settings(repo), [])
    # Nor the dataset checks and fingerprinting: nothing is read that the caches hold.
    script = (
        "import sys; from pathlib import Path\n"
        "from reconciler.datasets import stat_cache; stat_cache.RACY_WINDOW_NS = 0\n"
        "from reconciler.config import load_settings\n"
        "from reconciler.specs.desired import load_desired\n"
        "assert load_desired(load_settings(Path.cwd()), [])\n"
        "heavy = ('yaml', 'jsonschema', 'reconciler.providers.dataset_checks',"
        " 'reconciler.datasets.fingerprint')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_source_location_follows_the_working_directory(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    [spec] = load_specs([Path("specs")])
    assert spec.source == SourceLocation(Path("specs/qa.yaml"), 1, 1)
    monkeypatch.chdir(repo / "specs")
    [again] = load_specs([Path("qa.yaml")])
    assert again.source.file == Path("qa.yaml")


# --- Changes to a spec file ----------------------------------------------------------------


def test_an_edit_that_keeps_size_and_mtime_is_seen(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    spec_file = repo / "specs" / "seg.yaml"
    (repo / "datasets" / "images").mkdir()
    (repo / "datasets" / "images" / "a.png").write_bytes(PNG)
    spec_file.write_text(SEGMIND.format(name="seg", dataset="../datasets/images/"))
    before = {s.name: s for s in load_specs([Path("specs")])}["seg"]
    stat = spec_file.stat()
    spec_file.write_text(spec_file.read_text().replace("TOK\n", "TEK\n", 1))
    os.utime(spec_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = {s.name: s for s in load_specs([Path("specs")])}["seg"]
    assert (before.trigger_word, after.trigger_word) == ("TOK", "TEK")


def test_a_recently_written_file_is_read_but_not_parsed_again(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inside the default racy window a stat match proves nothing: the content hash decides.
    cold = load_specs([Path("specs")])
    reads = Calls(monkeypatch, loader, "read_source")
    parses = Calls(monkeypatch, yaml_source, "parse_yaml_text")
    assert load_specs([Path("specs")]) == cold
    assert (reads.count, parses.count) == (1, 0)


def test_a_settled_file_is_not_even_read(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    load_specs([Path("specs")])
    reads = Calls(monkeypatch, loader, "read_source")
    load_specs([Path("specs")])
    assert reads.count == 0


def test_an_invalid_file_is_never_remembered(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    bad = repo / "specs" / "bad.yaml"
    bad.write_text(QUBRID.format(name="bad", dataset="../datasets/qa.csv") + "epochs: 3\n")
    with pytest.raises(InvalidInputError) as first:
        load_specs([Path("specs")])
    assert str(bad.resolve()) not in cache_document(repo)["files"]
    parses = Calls(monkeypatch, yaml_source, "parse_yaml_text")
    with pytest.raises(InvalidInputError) as second:
        load_specs([Path("specs")])
    assert second.value.diagnostics == first.value.diagnostics
    assert parses.count == 1  # the bad file, parsed again; the good one from the cache


def test_a_file_that_turns_invalid_is_reported(repo: Path, no_racy_window: None) -> None:
    load_specs([Path("specs")])
    spec_file = repo / "specs" / "qa.yaml"
    spec_file.write_text(spec_file.read_text().replace("task_type: qa", "task_type: xx"))
    assert re.search("task_type", problems_of_loading())


def test_duplicates_are_found_among_remembered_specs(repo: Path, no_racy_window: None) -> None:
    load_specs([Path("specs")])
    (repo / "specs" / "copy.yaml").write_text(
        QUBRID.format(name="qa", dataset="../datasets/qa.csv")
    )
    assert re.search(r"duplicate job: qubrid `qa`.*qa\.yaml:3", problems_of_loading())


# --- Changes around the spec files ---------------------------------------------------------


def test_a_changed_reconciler_yaml_changes_the_specs(repo: Path, no_racy_window: None) -> None:
    (repo / "datasets" / "images").mkdir()
    (repo / "datasets" / "images" / "a.png").write_bytes(PNG)
    (repo / "specs" / "seg.yaml").write_text(
        SEGMIND.format(name="seg", dataset="../datasets/images/")
    )
    config = repo / "reconciler.yaml"
    config.write_text("providers:\n  segmind:\n    access: public\n")
    assert {s.name: s.access for s in load_specs([Path("specs")])}["seg"] == "public"
    config.write_text("providers:\n  segmind:\n    access: private\n")
    assert {s.name: s.access for s in load_specs([Path("specs")])}["seg"] == "private"


def test_the_context_covers_schema_config_settings_version_and_root(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = tmp_path / "finetune.schema.json"
    schema.write_text("{}")
    settings, _ = read_settings(repo)
    base = cache_context(settings, schema)
    assert cache_context(settings, schema) == base

    schema.write_text('{"type": "object"}')
    assert cache_context(settings, schema) != base
    schema.write_text("{}")

    (repo / "reconciler.yaml").write_text("parallelism: 4\n")  # bytes count, not just values
    assert cache_context(read_settings(repo)[0], schema) != base
    (repo / "reconciler.yaml").unlink()

    other_root = tmp_path / "elsewhere"
    (other_root / ".git").mkdir(parents=True)
    assert cache_context(read_settings(other_root)[0], schema) != base

    monkeypatch.setattr(cache_module, "__version__", "999.0")
    assert cache_context(settings, schema) != base


def test_a_cache_of_another_context_is_ignored(repo: Path, no_racy_window: None) -> None:
    file = cache_file(repo)
    spec = FineTuneSpec(
        name="x",
        provider="cohere",
        base_model="",
        dataset=DatasetRef(DatasetKind.ID, "ds-1"),
        source=SourceLocation(Path("x.yaml"), 3, 1),
    )
    stat = (repo / "specs" / "qa.yaml").stat()
    mine = ValidationCache(file, "context-a")
    mine.remember_file(
        "/some/file", stat, "0" * 64, True, [CachedSpec(spec, (3, 7), (5, 10), None)]
    )
    mine.save()
    assert ValidationCache(file, "context-a").trusted_by_stat("/some/file", stat)
    assert not ValidationCache(file, "context-b").trusted_by_stat("/some/file", stat)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{not json", b"\xff\xfe", b"0\n{}", b"[]"],
)
def test_a_corrupt_cache_is_ignored_and_replaced(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None, garbage: bytes
) -> None:
    expected = load_specs([Path("specs")])
    cache_file(repo).write_bytes(garbage)
    assert load_specs([Path("specs")]) == expected
    parses = Calls(monkeypatch, yaml_source, "parse_yaml_text")
    assert load_specs([Path("specs")]) == expected
    assert parses.count == 0


def test_a_cache_edited_by_hand_fails_its_checksum(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    load_specs([Path("specs")])
    file = cache_file(repo)
    file.write_bytes(file.read_bytes().replace(b'"task_type":"qa"', b'"task_type":"not_qa"'))
    [spec] = load_specs([Path("specs")])
    assert spec.task_type == "qa"


def test_writes_leave_no_temporary_files_and_an_unwritable_cache_is_no_error(
    repo: Path, no_racy_window: None
) -> None:
    load_specs([Path("specs")])
    assert sorted(p.name for p in (repo / ".reconcile").iterdir()) == [
        ".gitignore",
        CACHE_FILE_NAME,
    ]
    shutil.rmtree(repo / ".reconcile")
    (repo / ".reconcile").write_text("a file where the cache folder should be")
    assert [spec.name for spec in load_specs([Path("specs")])] == ["qa"]


def test_a_url_with_a_query_is_never_written_to_the_cache(repo: Path, no_racy_window: None) -> None:
    (repo / "specs" / "url.yaml").write_text(
        SEGMIND.format(name="url", dataset="{url: 'https://x.test/d.zip?X-Amz-Signature=SECRET'}")
    )
    specs = {s.name: s for s in load_specs([Path("specs")])}
    assert specs["url"].dataset.value.endswith("SECRET")
    assert b"SECRET" not in cache_file(repo).read_bytes()
    assert {s.name: s for s in load_specs([Path("specs")])} == specs


# --- Datasets ------------------------------------------------------------------------------


def test_a_dataset_that_turns_invalid_is_checked_again(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    load_specs([Path("specs")])
    (repo / "datasets" / "qa.csv").write_text("prompt,completion\nq,a\n")
    assert re.search("dataset", problems_of_loading())


def test_a_recently_written_dataset_is_checked_every_time(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_specs([Path("specs")])
    checks = Calls(monkeypatch, dataset_checks, "check_dataset")
    load_specs([Path("specs")])
    assert checks.count == 1


def test_a_dataset_that_disappears_is_reported_not_served_from_the_cache(
    repo: Path, no_racy_window: None
) -> None:
    load_specs([Path("specs")])
    (repo / "datasets" / "qa.csv").unlink()
    assert re.search("does not exist", problems_of_loading())


def test_a_dataset_swapped_for_a_symlink_out_of_the_repo_is_refused(
    repo: Path, tmp_path: Path, no_racy_window: None
) -> None:
    load_specs([Path("specs")])
    outside = tmp_path / "outside.csv"
    outside.write_text(GOOD_CSV)
    (repo / "datasets" / "qa.csv").unlink()
    (repo / "datasets" / "qa.csv").symlink_to(outside)
    assert re.search("outside the repository", problems_of_loading())


def test_fingerprints_are_remembered_per_listing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, no_racy_window: None
) -> None:
    from reconciler.config import load_settings
    from reconciler.datasets import fingerprint
    from reconciler.specs import desired

    settings = load_settings(repo)
    first = desired.load_desired(settings, [])
    hashed = Calls(monkeypatch, fingerprint, "fingerprint_listing")
    assert desired.load_desired(settings, []) == first
    assert hashed.count == 0
    dataset = repo / "datasets" / "qa.csv"
    dataset.write_text(GOOD_CSV.replace("Q 1", "Q 9"))
    changed = desired.load_desired(settings, [])
    assert hashed.count == 1
    assert changed[0].dataset_fingerprint != first[0].dataset_fingerprint


def test_the_shared_cache_is_the_one_load_specs_uses(repo: Path, no_racy_window: None) -> None:
    settings, _ = read_settings(repo)
    validated = open_validation_cache(settings)
    assert validated is not None
    load_specs([Path("specs")], settings=settings, cache=validated)
    assert str((repo / "specs" / "qa.yaml").resolve()) in cache_document(repo)["files"]


# --- Resolving paths without Path.resolve() ------------------------------------------------


def test_real_paths_agree_with_path_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real" / "inner").mkdir(parents=True)
    (tmp_path / "real" / "inner" / "f.csv").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real" / "inner")
    (tmp_path / "file-link.csv").symlink_to(tmp_path / "real" / "inner" / "f.csv")
    monkeypatch.chdir(tmp_path)
    real_paths = RealPaths()
    for written in [
        "link/f.csv",
        "link/../inner/f.csv",  # `..` after a symlink climbs from its target
        "file-link.csv",
        "real/./inner//f.csv",
        "missing/f.csv",
        "link/missing.csv",
        str(tmp_path / "link"),
        ".",
    ]:
        assert real_paths.real(Path(written)) == Path(written).resolve(), written


@pytest.mark.parametrize("name", ["a.csv", "/x/y.tar.gz", "foo.", ".hidden", "/a.b/c", "x", ".."])
def test_the_suffix_is_the_one_path_gives(name: str) -> None:
    assert dataset_paths._suffix(name) == Path(name).suffix
