"""``reconcile validate --output json|github``: the same problems as the text report, for
machines and as GitHub Actions annotations; the valid specs in JSON; exit codes as in text.

The annotations are read back the way GitHub's runner reads a workflow command (one command a
line; ``%25``, ``%0D``, ``%0A`` decoded in the message, ``%3A`` and ``%2C`` too in a property),
so the hostile cases prove that spec content (a key holding a line break and a forged command,
a literal ``%0A``, a file name with ``,`` and ``:``) stays inside its own annotation."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli
from reconciler.sanitize import one_line
from tests.support.paths import REPO
from tests.unit.cli.test_cli_validate import CORPUS_FILES, diagnostics_of, make_repo

COMMAND = re.compile(r"^::(?P<command>[a-z-]+)(?: (?P<properties>[^:]*))?::(?P<message>.*)$")


@dataclass(frozen=True)
class Annotation:
    command: str
    properties: dict[str, str]
    message: str


def decode(text: str, *, property_value: bool) -> str:
    """What GitHub's runner makes of an escaped message or property value."""
    pairs = [("%0D", "\r"), ("%0A", "\n")]
    if property_value:
        pairs += [("%3A", ":"), ("%2C", ",")]
    for escape, raw in [*pairs, ("%25", "%")]:
        text = text.replace(escape, raw)
    return text


def workflow_commands(stdout: str) -> list[Annotation]:
    """Every workflow command in ``stdout``, as the runner would parse it."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("::"):
            continue
        match = COMMAND.match(line)
        assert match, f"not a well-formed workflow command: {line!r}"
        properties = {}
        for item in (match["properties"] or "").split(","):
            if item:
                key, _, value = item.partition("=")
                properties[key] = decode(value, property_value=True)
        found.append(
            Annotation(match["command"], properties, decode(match["message"], property_value=False))
        )
    return found


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


def validate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["validate", *args])


def with_corpus(repo: Path) -> None:
    for spec in CORPUS_FILES:
        shutil.copy(spec, repo / "specs" / spec.name)


def test_json_lists_every_problem_of_the_text_report(repo: Path) -> None:
    with_corpus(repo)
    text = validate("specs")
    shown = validate("specs", "-o", "json")
    assert shown.exit_code == text.exit_code == 1
    document = json.loads(shown.stdout)
    assert document["ok"] is False and document["specs"] == []
    problems = document["problems"]
    assert {p["severity"] for p in problems} == {"error"}
    as_text = [
        f"{p['file']}:{p['line']}:{p['column']}: "
        + (f"{p['field']}: " if p["field"] else "")
        + p["message"]
        for p in problems
    ]
    assert as_text == diagnostics_of(text)
    assert document["summary"]["errors"] == len(problems)
    assert document["summary"]["files_with_errors"] == len(CORPUS_FILES)


def test_json_lists_the_valid_specs_and_the_warning(repo: Path) -> None:
    for example in ("segmind-qwen.yaml", "cohere-ticket-labels.yaml"):
        shutil.copy(REPO / "specs" / example, repo / "specs" / example)
    shown = validate("specs", "-o", "json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["ok"] is True
    assert [(s["file"], s["name"], s["provider"]) for s in document["specs"]] == [
        ("specs/cohere-ticket-labels.yaml", "ticket-labels-v1", "cohere"),
        ("specs/segmind-qwen.yaml", "mascot-qwen-v1", "segmind"),
    ]
    assert all(s["line"] >= 1 and s["column"] >= 1 for s in document["specs"])
    [warning] = document["problems"]
    assert warning["severity"] == "warning" and "Cohere" in warning["message"]
    assert "warning" not in shown.stderr  # said in the JSON, not beside it


def test_github_annotates_each_problem_at_its_place(repo: Path) -> None:
    with_corpus(repo)
    text = validate("specs")
    shown = validate("specs", "-o", "github")
    assert shown.exit_code == 1
    found = workflow_commands(shown.stdout)
    expected = diagnostics_of(text)
    assert len(found) == len(expected)
    for annotation, line in zip(found, expected, strict=True):
        assert annotation.command == "error"
        place = f"{annotation.properties['file']}:{annotation.properties['line']}"
        assert line.startswith(f"{place}:{annotation.properties['col']}: ")
        assert annotation.properties["title"].startswith("reconcile validate")
        assert line.endswith(annotation.message)
    assert shown.stdout.splitlines()[-1].endswith("no change was sent to any provider.")


def test_github_on_valid_specs_says_ok_and_warns_once(repo: Path) -> None:
    for example in ("cohere-support-chat.yaml", "cohere-ticket-labels.yaml"):
        shutil.copy(REPO / "specs" / example, repo / "specs" / example)
    shown = validate("specs", "-o", "github")
    assert shown.exit_code == 0
    [warning] = workflow_commands(shown.stdout)
    assert warning.command == "warning" and "Cohere" in warning.message
    assert shown.stdout.splitlines()[-1] == "ok: 2 specs in 2 files valid"


FORGED = "::error file=forged.yaml,line=1::forged"
HOSTILE_KEY = f"evil\\n{FORGED}\\r\\n::set-output name=x::y %0A{FORGED} %25 a:b,c"


def test_hostile_spec_content_cannot_forge_an_annotation_or_a_command(repo: Path) -> None:
    spec = (REPO / "specs" / "segmind-qwen.yaml").read_text(encoding="utf-8")
    # A file name with the property separators, and a key holding line breaks and commands.
    hostile = repo / "specs" / "a,line=99:title=x.yaml"
    hostile.write_text(spec + f'"{HOSTILE_KEY}": 1\n', encoding="utf-8")
    text = validate("specs")
    shown = validate("specs", "-o", "github")
    assert shown.exit_code == 1
    commands = [line for line in shown.stdout.splitlines() if line.startswith("::")]
    found = workflow_commands(shown.stdout)
    assert len(commands) == len(found) == len(diagnostics_of(text))
    assert {a.command for a in found} == {"error"}
    for annotation in found:
        assert set(annotation.properties) == {"file", "line", "col", "title"}
        assert annotation.properties["file"] == "specs/a,line=99:title=x.yaml"
        assert annotation.properties["line"].isdigit()
    unknown = [a for a in found if "evil" in a.message]
    assert unknown, shown.stdout
    for annotation in unknown:
        # The whole hostile key is inside the one annotation, shown as one line.
        assert one_line("evil\n" + FORGED) in annotation.message
        assert "%0A" + FORGED in annotation.message  # the literal %0A read back as typed
        assert "\n" not in annotation.message and "\r" not in annotation.message


def test_json_is_ascii_and_exact_for_hostile_content(repo: Path) -> None:
    spec = (REPO / "specs" / "segmind-qwen.yaml").read_text(encoding="utf-8")
    (repo / "specs" / "x.yaml").write_text(spec + '"bad\\u001b[2Jkey": 1\n', encoding="utf-8")
    shown = validate("specs", "-o", "json")
    assert shown.exit_code == 1
    assert shown.stdout.isascii() and "\x1b" not in shown.stdout
    fields = [p["field"] for p in json.loads(shown.stdout)["problems"]]
    assert "bad\x1b[2Jkey" in fields
