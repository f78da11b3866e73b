"""`reconcile validate` and the JSON Schema agree on every file of the corpus.

tests/golden/schema_corpus/ holds spec files under ``valid/`` and ``invalid/``; the folder is
the label. Each file goes through `reconcile validate` and through check-jsonschema, which
reads YAML 1.2 as the editors do (ruamel.yaml) and applies ``schemas/finetune.schema.json``
with the reference validator; both must give the label's verdict. What the schema cannot see
(a dataset's files, a path leaving the repository) is left out of the corpus: see its
README.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.support.paths import REPO

CORPUS = REPO / "tests" / "golden" / "schema_corpus"
FILES = sorted(CORPUS.glob("*/*.yaml"))
SCHEMA = REPO / "schemas" / "finetune.schema.json"


def label(path: Path) -> bool:
    """Whether the corpus says ``path`` is valid."""
    return path.parent.name == "valid"


def documents_of(text: str) -> list[str]:
    """The documents of a file, as an editor checks them: one by one, an empty one too (what
    comes before the first ``---`` is a document only if it holds more than comments)."""
    first, *rest = re.split(r"^---[^\n]*\n?", text, flags=re.MULTILINE)
    return [first, *rest] if _has_content(first) else rest


def _has_content(part: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in part.splitlines())


def check_jsonschema(files: list[Path]) -> dict[str, Any]:
    """check-jsonschema's JSON report on ``files`` against the spec schema."""
    command = [sys.executable, "-m", "check_jsonschema", "-o", "json", "--schemafile"]
    checked = subprocess.run(
        [*command, str(SCHEMA), *map(str, files)], capture_output=True, text=True, check=False
    )
    report: dict[str, Any] = json.loads(checked.stdout)
    return report


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus in a repository of its own, beside the example datasets its valid local
    paths name (``../datasets/...``)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / ".git").mkdir()
    (root / "reconciler.yaml").write_text("owner: corpus\n")
    shutil.copytree(REPO / "datasets", root / "datasets")
    # An extension in capitals is the same extension (valid/cohere-classification-upper-...).
    shutil.copy(root / "datasets" / "ticket-labels.csv", root / "datasets" / "TICKETS.CSV")
    for folder in ("valid", "invalid"):
        shutil.copytree(CORPUS / folder, root / folder)
    return root


@pytest.fixture(scope="module")
def schema_verdicts(repository: Path) -> dict[str, bool]:
    """check-jsonschema's verdict per corpus file, from one run over all of them. A file of
    several documents is given to it one document at a time (check-jsonschema reads one
    document per file; editors check each)."""
    given: dict[Path, str] = {}
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        relative = f"{path.parent.name}/{path.name}"
        documents = documents_of(text)
        if len(documents) > 1:
            for index, document in enumerate(documents):
                split = repository / "split" / f"{path.stem}.{index}.yaml"
                split.parent.mkdir(exist_ok=True)
                split.write_text(document, encoding="utf-8")
                given[split] = relative
        else:
            given[repository / relative] = relative
    report = check_jsonschema(list(given))
    failed = {given[Path(e["filename"])] for e in report["errors"] + report["parse_errors"]}
    return {relative: relative not in failed for relative in given.values()}


@pytest.fixture
def in_repository(repository: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(repository)
    yield repository


def test_the_corpus_is_large_and_labelled_both_ways() -> None:
    assert len(FILES) >= 75
    assert {path.parent.name for path in FILES} == {"valid", "invalid"}
    assert sum(label(path) for path in FILES) >= 25
    assert sum(not label(path) for path in FILES) >= 50


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_validate_gives_the_label(in_repository: Path, path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", f"{path.parent.name}/{path.name}"])
    assert result.exit_code == (0 if label(path) else 1), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_schema_gives_the_label(schema_verdicts: dict[str, bool], path: Path) -> None:
    assert schema_verdicts[f"{path.parent.name}/{path.name}"] is label(path)


def test_check_jsonschema_reads_one_document_per_file(repository: Path) -> None:
    # Why multi-document files are split above; docs/specs.md says so to CI users.
    report = check_jsonschema([repository / "valid" / "multi-two-documents.yaml"])
    assert report["parse_errors"]
