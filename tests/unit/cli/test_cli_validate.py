"""`reconcile validate` end to end: the bad-spec corpus, generated bad inputs, and the examples.

Each file in tests/bad_specs/ is one bad spec whose leading ``# expect: LINE:COL FIELD | words``
lines list every diagnostic it must produce (FIELD ``-`` for a whole-file problem). Inputs
that are best made on the spot (non-UTF-8 bytes, symlinks, huge files, alias bombs, broken
dataset files) are generated in the tests below. Every run must exit 1, print each expected
``path:line:col: field: message`` and never a traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli
from tests.support.paths import BAD_SPECS, REPO

CORPUS = BAD_SPECS
CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))


@dataclass(frozen=True)
class Expected:
    location: str  # "specs/x.yaml:7:10"
    field: str  # "" for a whole-file problem
    words: tuple[str, ...]


def expectations(spec: Path, shown_as: str) -> list[Expected]:
    found = []
    for line in spec.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# expect: "):
            break
        head, *words = (part.strip() for part in line[len("# expect: ") :].split("|"))
        position, field = head.split(" ", 1)
        found.append(
            Expected(f"{shown_as}:{position}", "" if field == "-" else field, tuple(words))
        )
    return found


def make_repo(root: Path) -> Path:
    """A repository with the example datasets and an empty specs/ folder."""
    (root / ".git").mkdir(parents=True)
    shutil.copytree(REPO / "datasets", root / "datasets")
    (root / "specs").mkdir()
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    for variable in ("SEGMIND_BASE_URL", "QUBRID_BASE_URL", "COHERE_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    return root


def validate(*paths: str) -> Result:
    return CliRunner().invoke(cli, ["validate", *paths])


def diagnostics_of(result: Result) -> list[str]:
    """The diagnostic lines of a failed run (the summary line left out)."""
    lines = result.stderr.splitlines()
    assert lines and "no change was sent to any provider" in lines[-1], result.output
    return lines[:-1]


def assert_fails_with(result: Result, expected: list[Expected], *, exact: bool = True) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    lines = diagnostics_of(result)
    for item in expected:
        prefix = f"{item.location}: {item.field}: " if item.field else f"{item.location}: "
        matching = [line for line in lines if line.startswith(prefix)]
        assert matching, f"no diagnostic starting {prefix!r} in:\n{result.stderr}"
        assert any(all(word in line for word in item.words) for line in matching), (
            f"{prefix!r} lacks {item.words} in:\n{result.stderr}"
        )
    if exact:
        assert len(lines) == len(expected), result.stderr


def test_the_corpus_has_at_least_30_cases() -> None:
    assert len(CORPUS_FILES) >= 30
    for spec in CORPUS_FILES:
        assert expectations(spec, "x"), f"{spec.name} has no '# expect:' line"


@pytest.mark.parametrize("spec", CORPUS_FILES, ids=lambda p: p.stem)
def test_each_bad_spec_fails_with_its_message(repo: Path, spec: Path) -> None:
    shutil.copy(spec, repo / "specs" / spec.name)
    result = validate("specs")
    assert_fails_with(result, expectations(spec, f"specs/{spec.name}"))


def test_the_whole_corpus_is_reported_in_one_run(repo: Path) -> None:
    expected = []
    for spec in CORPUS_FILES:
        shutil.copy(spec, repo / "specs" / spec.name)
        expected += expectations(spec, f"specs/{spec.name}")
    result = validate("specs")
    # Not exact: several corpus specs share a name, which adds duplicate-name diagnostics.
    assert_fails_with(result, expected, exact=False)
    files = {line.split(":", 1)[0] for line in diagnostics_of(result)}
    assert len(files) == len(CORPUS_FILES)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


HEADER = "apiVersion: reconciler/v1\nkind: FineTune\n"
QUBRID = (
    HEADER + "name: {name}\nprovider: qubrid\nbase_model: m\ndataset: {dataset}\ntask_type: qa\n"
)
SEGMIND = (
    HEADER + "name: {name}\nprovider: segmind\nbase_model: FLUX_PRO\ndataset: {dataset}\n"
    "instance_prompt: photo of TOK\n"
)
COHERE_CHAT = (
    HEADER + "name: {name}\nprovider: cohere\nbase_model: {{base_type: BASE_TYPE_CHAT}}\n"
    "dataset: {dataset}\n"
)


def test_non_utf8_file(repo: Path) -> None:
    write(repo / "specs/latin1.yaml", HEADER.encode() + b"name: caf\xe9\n")
    assert_fails_with(
        validate("specs"), [Expected("specs/latin1.yaml:3:10", "", ("not UTF-8", "0xe9"))]
    )


def test_utf16_file(repo: Path) -> None:
    write(repo / "specs/wide.yaml", HEADER.encode("utf-16"))
    assert_fails_with(validate("specs"), [Expected("specs/wide.yaml:1:1", "", ("UTF-16",))])


def test_empty_file(repo: Path) -> None:
    write(repo / "specs/empty.yaml", "")
    assert_fails_with(validate("specs"), [Expected("specs/empty.yaml:1:1", "", ("empty",))])


def test_file_with_only_comments(repo: Path) -> None:
    write(repo / "specs/notes.yaml", "# to do\n\n# later\n")
    assert_fails_with(
        validate("specs"), [Expected("specs/notes.yaml:1:1", "", ("no YAML documents",))]
    )


def test_file_over_the_size_limit(repo: Path) -> None:
    write(repo / "specs/huge.yaml", HEADER + "#" * (1024 * 1024))
    assert_fails_with(
        validate("specs"), [Expected("specs/huge.yaml:1:1", "", ("1,048,576-byte limit",))]
    )


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb(repo: Path) -> None:
    write(repo / "specs/bomb.yaml", "# a billion laughs\n" + HEADER + billion_laughs())
    assert_fails_with(
        validate("specs"),
        [Expected("specs/bomb.yaml:2:1", "", ("more than 10,000 YAML nodes", "aliases"))],
    )


def test_nesting_too_deep(repo: Path) -> None:
    write(repo / "specs/deep.yaml", HEADER + "parameters:\n" + "- " * 80 + "x\n")
    assert_fails_with(
        validate("specs"), [Expected("specs/deep.yaml:4:129", "", ("nests deeper than 64",))]
    )


def test_dataset_symlink_pointing_outside_the_repo(repo: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere/qa.csv", "question,answer\na,b\n")
    (repo / "datasets/linked.csv").symlink_to(outside)
    write(repo / "specs/qa.yaml", QUBRID.format(name="qa", dataset="../datasets/linked.csv"))
    assert_fails_with(
        validate("specs"),
        [Expected("specs/qa.yaml:6:10", "dataset", ("symlink", "outside the repository"))],
    )


def test_duplicate_name_across_files_reports_both_places(repo: Path) -> None:
    for file in ("a.yaml", "team/b.yaml"):
        write(repo / "specs" / file, SEGMIND.format(name="mascot", dataset="../datasets/mascot/"))
    (repo / "specs/team/b.yaml").write_text(
        SEGMIND.format(name="mascot", dataset="../../datasets/mascot/")
    )
    assert_fails_with(
        validate("specs"),
        [
            Expected(
                "specs/a.yaml:3:7", "name", ("duplicate", "also defined at specs/team/b.yaml:3")
            ),
            Expected(
                "specs/team/b.yaml:3:7", "name", ("duplicate", "also defined at specs/a.yaml:3")
            ),
        ],
    )


def test_same_name_on_two_providers_is_fine(repo: Path) -> None:
    write(repo / "specs/a.yaml", SEGMIND.format(name="support", dataset="../datasets/mascot/"))
    write(
        repo / "specs/b.yaml", QUBRID.format(name="support", dataset="../datasets/support-qa.csv")
    )
    result = validate("specs")
    assert result.exit_code == 0, result.output
    assert "ok: 2 specs in 2 files valid" in result.stdout


def test_dataset_csv_without_the_task_columns_is_positioned_in_the_csv(repo: Path) -> None:
    write(repo / "datasets/wrong.csv", "q,a\nx,y\n")
    write(repo / "specs/qa.yaml", QUBRID.format(name="qa", dataset="../datasets/wrong.csv"))
    assert_fails_with(
        validate("specs"),
        [Expected("datasets/wrong.csv:1:1", "dataset", ("question", "answer", "specs/qa.yaml"))],
    )


def test_dataset_csv_columns_from_the_spec_are_used(repo: Path) -> None:
    write(repo / "datasets/wrong.csv", "q,a\nx,y\n")
    spec = QUBRID.format(name="qa", dataset="../datasets/wrong.csv") + "csv_columns: [q, a]\n"
    write(repo / "specs/qa.yaml", spec)
    result = validate("specs")
    assert result.exit_code == 0, result.output


def test_dataset_csv_columns_from_reconciler_yaml_are_used(repo: Path) -> None:
    write(repo / "datasets/wrong.csv", "q,a\nx,y\n")
    write(repo / "reconciler.yaml", "providers:\n  qubrid:\n    csv_columns:\n      qa: [q, a]\n")
    write(repo / "specs/qa.yaml", QUBRID.format(name="qa", dataset="../datasets/wrong.csv"))
    result = validate("specs")
    assert result.exit_code == 0, result.output


def test_broken_chat_jsonl_line_is_positioned_in_the_dataset(repo: Path) -> None:
    good = '{"messages": [{"role": "User", "content": "a"}, {"role": "Chatbot", "content": "b"}]}'
    write(repo / "datasets/chat.jsonl", f"{good}\n{{broken\n{good}\n")
    write(
        repo / "specs/chat.yaml", COHERE_CHAT.format(name="chat", dataset="../datasets/chat.jsonl")
    )
    assert_fails_with(
        validate("specs"),
        [Expected("datasets/chat.jsonl:2:1", "dataset", ("not valid JSON", "cohere `chat`"))],
    )


def test_segmind_folder_with_a_subfolder_is_reported_at_the_spec(repo: Path) -> None:
    shutil.copytree(repo / "datasets/mascot", repo / "datasets/nested")
    shutil.copytree(repo / "datasets/mascot", repo / "datasets/nested/more")
    write(repo / "specs/img.yaml", SEGMIND.format(name="img", dataset="../datasets/nested"))
    assert_fails_with(
        validate("specs"),
        [Expected("specs/img.yaml:6:10", "dataset", ("datasets/nested/more", "sub-folder"))],
    )


def test_a_shared_dataset_is_checked_once_and_reported_for_each_spec(repo: Path) -> None:
    shutil.copytree(repo / "datasets/mascot", repo / "datasets/nested")
    (repo / "datasets/nested/more").mkdir()
    for name in ("one", "two"):
        write(repo / f"specs/{name}.yaml", SEGMIND.format(name=name, dataset="../datasets/nested"))
    assert_fails_with(
        validate("specs"),
        [
            Expected("specs/one.yaml:6:10", "dataset", ("sub-folder",)),
            Expected("specs/two.yaml:6:10", "dataset", ("sub-folder",)),
        ],
    )


def test_second_document_of_a_file_is_positioned_in_that_document(repo: Path) -> None:
    good = QUBRID.format(name="qa", dataset="../datasets/support-qa.csv")
    bad = SEGMIND.format(name="img", dataset="../datasets/mascot/") + "access: secret\n"
    write(repo / "specs/two.yaml", f"{good}---\n{bad}")
    assert_fails_with(
        validate("specs"),
        [Expected("specs/two.yaml:16:9", "access", ("`secret` is not one of private, public",))],
    )


def test_a_path_that_does_not_exist(repo: Path) -> None:
    assert_fails_with(validate("nope"), [Expected("nope:1:1", "", ("no such file or folder",))])


def test_a_folder_without_specs(repo: Path) -> None:
    (repo / "empty").mkdir()
    assert_fails_with(validate("empty"), [Expected("empty:1:1", "", ("no *.yaml",))])


def test_invalid_reconciler_yaml_is_reported_with_the_specs(repo: Path) -> None:
    write(repo / "reconciler.yaml", "parallelism: 0\nprovidres: {}\n")
    write(repo / "specs/qa.yaml", QUBRID.format(name="Q", dataset="../datasets/support-qa.csv"))
    assert_fails_with(
        validate("specs"),
        [
            Expected("reconciler.yaml:1:14", "parallelism", ("out of range", ">= 1")),
            Expected("reconciler.yaml:2:1", "providres", ("did you mean `providers`",)),
            Expected("specs/qa.yaml:3:7", "name", ("qubrid job name",)),
        ],
    )


def test_invalid_base_url_in_the_environment(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUBRID_BASE_URL", "platform.qubrid.com")
    write(repo / "specs/qa.yaml", QUBRID.format(name="qa", dataset="../datasets/support-qa.csv"))
    assert_fails_with(
        validate(), [Expected("environment:1:1", "QUBRID_BASE_URL", ("http:// or https://",))]
    )


def test_hidden_folders_and_reconciler_yaml_are_not_specs(repo: Path) -> None:
    write(repo / "specs/.drafts/broken.yaml", "{{{")
    write(repo / "reconciler.yaml", "spec_paths: [specs]\n")
    write(repo / "specs/qa.yaml", QUBRID.format(name="qa", dataset="../datasets/support-qa.csv"))
    result = validate(".")
    assert result.exit_code == 0, result.output


def test_the_repository_examples_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = validate("specs/")
    assert result.exit_code == 0, result.output
    assert "ok: 8 specs in 8 files valid" in result.stdout


def test_a_spec_file_outside_any_repository_is_checked_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    shutil.copytree(REPO / "datasets", work / "datasets")
    write(work / "specs/qa.yaml", QUBRID.format(name="qa", dataset="../datasets/support-qa.csv"))
    monkeypatch.chdir(work)
    result = validate("specs/qa.yaml")
    assert result.exit_code == 0, result.output


def test_the_console_entry_point_reports_without_a_traceback(repo: Path) -> None:
    write(repo / "specs/bomb.yaml", HEADER + billion_laughs(20))
    write(repo / "specs/latin1.yaml", HEADER.encode() + b"name: caf\xe9\n")
    run = subprocess.run(
        [sys.executable, "-c", "from reconciler.cli import main; main()", "validate", "specs"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr.splitlines()[:2] == [
        "specs/bomb.yaml:1:1: the document expands to more than 10,000 YAML nodes (aliases"
        " counted at each use), which no spec needs; remove the anchors and aliases (`&name`,"
        " `*name`) that repeat large structures",
        "specs/latin1.yaml:3:10: not UTF-8 text (byte 0xe9 cannot be decoded); save the file as"
        " UTF-8",
    ]


def test_cohere_specs_get_one_deprecation_warning_per_run(repo: Path) -> None:
    for name in ("cohere-support-chat.yaml", "cohere-ticket-labels.yaml"):
        shutil.copy(REPO / "specs" / name, repo / "specs" / name)
    result = validate("specs")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Cohere deprecated its fine-tuning API on 2025-09-15") == 1


def test_no_cohere_spec_no_deprecation_warning(repo: Path) -> None:
    shutil.copy(REPO / "specs" / "qubrid-support-qa.yaml", repo / "specs" / "q.yaml")
    result = validate("specs")
    assert result.exit_code == 0, result.output
    assert "deprecated" not in result.stderr
