"""Specs and reconciler.yaml are read as YAML 1.2 (core schema), as the editors read them.

The decision (docs/specs.md, YAML details): only ``true``/``false`` are booleans, so a YAML 1.1
``yes``/``on`` is text, refused where a boolean is expected with "write true or false";
``0123`` is 123, ``1e-5`` a number, ``1_000`` text; ``.inf``/``.nan`` are refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.config import read_settings
from reconciler.core.diagnostics import InvalidInputError
from reconciler.specs import load_specs
from reconciler.yamlio.yaml_source import parse_yaml_text, reads_as_text

SEGMIND = (
    "apiVersion: reconciler/v1\nkind: FineTune\nname: fox\nprovider: segmind\n"
    "base_model: FLUX_PRO\ndataset: {url: 'https://example.com/fox.zip'}\n"
    "instance_prompt: photo of TOK\n"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with an empty specs/ (the specs here name remote datasets only)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "specs").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "ON", "y", "n"])
def test_a_yaml11_boolean_word_in_a_boolean_field_is_refused(repo: Path, word: str) -> None:
    (repo / "specs/fox.yaml").write_text(SEGMIND + f"lifecycle:\n  allow_replace: {word}\n")
    with pytest.raises(InvalidInputError) as caught:
        load_specs([Path("specs")])
    [problem] = caught.value.diagnostics
    assert (str(problem.file), problem.line, problem.col) == ("specs/fox.yaml", 9, 18)
    assert problem.field == "lifecycle.allow_replace"
    assert f"got the text `{word}`; write true or false" in problem.message
    assert f"YAML 1.2 reads `{word}` as text" in problem.message


def test_a_yaml11_boolean_word_in_a_text_field_is_text(repo: Path) -> None:
    (repo / "specs/fox.yaml").write_text(SEGMIND + "trigger_word: yes\n")
    [spec] = load_specs([Path("specs")])
    assert spec.trigger_word == "yes"


def test_true_and_false_are_booleans_in_every_spelling_of_the_core_schema(repo: Path) -> None:
    (repo / "specs/fox.yaml").write_text(
        SEGMIND + "lifecycle: {allow_replace: True, prevent_destroy: FALSE}\n"
        "parameters: {captioning: true}\n"
    )
    [spec] = load_specs([Path("specs")])
    assert (spec.lifecycle.allow_replace, spec.lifecycle.prevent_destroy) == (True, False)
    assert spec.parameters == {"captioning": True}


def test_reconciler_yaml_follows_the_same_rule(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text("owner: ml-team\nprune: on\n")
    _, [problem] = read_settings(repo)
    assert (problem.line, problem.field) == (2, "prune")
    assert "got the text `on`; write true or false" in problem.message


def test_numbers_are_read_as_yaml_12_reads_them() -> None:
    text = "a: 0123\nb: 0o17\nc: 0x1F\nd: 1e-5\ne: 1_000\nf: 0b11\ng: 1:20\nh: 2024-01-01\ni: .5\n"
    [document], problems = parse_yaml_text(text, "f.yaml")
    assert problems == []
    assert document.value == {
        "a": 123,  # YAML 1.1: 83, an octal number
        "b": 15,
        "c": 31,
        "d": 0.00001,  # YAML 1.1: text
        "e": "1_000",  # YAML 1.1: 1000
        "f": "0b11",  # YAML 1.1: 3
        "g": "1:20",  # YAML 1.1: 80 (base 60)
        "h": "2024-01-01",
        "i": 0.5,
    }


@pytest.mark.parametrize("written", [".inf", "-.inf", "+.INF", ".nan", ".NaN"])
def test_infinity_and_nan_are_refused_where_they_are_written(written: str) -> None:
    _, [problem] = parse_yaml_text(f"parameters:\n  learning_rate: {written}\n", "f.yaml")
    assert (problem.line, problem.col, problem.field) == (2, 18, "parameters.learning_rate")
    assert problem.message == f"`{written}` is not a finite number; write a number"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("yes", True),
        ("on", True),
        ("1_000", True),
        ("mascot", True),
        ("true", False),
        ("Null", False),
        ("", False),
        ("0123", False),
        ("0o17", False),
        ("1e5", False),
        ("-.inf", False),
        (".NaN", False),
    ],
)
def test_reads_as_text_says_which_words_need_no_quotes(text: str, plain: bool) -> None:
    assert reads_as_text(text) is plain
