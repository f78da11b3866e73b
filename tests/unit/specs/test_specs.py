"""Loading specs as a library: the values produced, defaults, positions and safety limits."""

from __future__ import annotations

import shutil
import tempfile
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config import read_settings
from reconciler.core.diagnostics import InvalidInputError
from reconciler.core.spec import DatasetKind, FineTuneSpec
from reconciler.specs import find_spec_files, load_specs
from reconciler.yamlio.yaml_source import MAX_NODES_PER_DOCUMENT, parse_yaml_text
from tests.support.paths import REPO

HEADER = "apiVersion: reconciler/v1\nkind: FineTune\n"
QUBRID = (
    HEADER + "name: {name}\nprovider: qubrid\nbase_model: m\ndataset: {dataset}\ntask_type: qa\n"
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    shutil.copytree(REPO / "datasets", root / "datasets")
    (root / "specs").mkdir()
    monkeypatch.chdir(root)
    return root


def by_name(specs: list[FineTuneSpec]) -> dict[str, FineTuneSpec]:
    return {spec.name: spec for spec in specs}


def test_examples_load_into_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    specs = by_name(load_specs([Path("specs")]))
    assert len(specs) == 8

    pro = specs["mascot-flux-pro-v1"]
    assert pro.provider == "segmind"
    assert pro.base_model == "FLUX_PRO"
    assert pro.dataset.kind is DatasetKind.FOLDER
    assert pro.dataset.path == REPO / "datasets" / "mascot"
    assert pro.access == "public"
    assert pro.parameters == {
        "iterations": 300,
        "finetune_type": "LORA",
        "lora_rank": 16,
        "priority": "QUALITY",
        "captioning": True,
    }
    assert pro.source.file == Path("specs/segmind-flux-pro.yaml")
    assert (pro.source.line, pro.source.col) == (3, 1)
    assert "access" in pro.set_fields and "apiVersion" not in pro.set_fields

    flux = specs["mascot-flux-dev-v1"]
    assert flux.access is None and "access" not in flux.set_fields
    assert flux.machine_type == "NVIDIA_L40S" and flux.train_type == "LORA"

    qa = specs["support-qa-v1"]
    assert qa.dataset.kind is DatasetKind.FILE
    assert qa.task_type == "qa"
    assert qa.csv_columns == ("question", "answer")
    assert "csv_columns" not in qa.set_fields
    assert specs["release-notes-v1"].csv_columns == ("text",)

    chat = specs["support-chat-v1"]
    assert chat.base_type == "BASE_TYPE_CHAT"
    assert chat.base_model == ""  # no name: Cohere picks its current chat model
    assert chat.dataset_type == "chat-finetune-input"
    labels = specs["ticket-labels-v1"]
    assert labels.dataset_type == "single-label-classification-finetune-input"


def test_several_documents_per_file(repo: Path) -> None:
    one = QUBRID.format(name="one", dataset="../datasets/support-qa.csv")
    two = QUBRID.format(name="two", dataset="../datasets/support-qa.csv")
    (repo / "specs/both.yaml").write_text(f"# two specs\n---\n{one}---\n{two}...\n")
    specs = load_specs([Path("specs")])
    assert [spec.name for spec in specs] == ["one", "two"]
    assert [spec.source.line for spec in specs] == [3, 11]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("{one}---\n", 8),  # a trailing marker
        ("---\n{one}---\n---\n{two}", 9),
        ("{one}---\n# later\n---\n{two}", 8),
    ],
)
def test_an_empty_document_beside_others_is_refused_at_its_marker(
    repo: Path, text: str, line: int
) -> None:
    # Editors check each document against the schema, an empty one as null, and flag it.
    one = QUBRID.format(name="one", dataset="{id: ds-1}")
    two = QUBRID.format(name="two", dataset="{id: ds-2}")
    (repo / "specs/both.yaml").write_text(text.format(one=one, two=two))
    with pytest.raises(InvalidInputError) as caught:
        load_specs([Path("specs")])
    [problem] = caught.value.diagnostics
    assert (problem.line, problem.col, problem.field) == (line, 1, "")
    assert problem.message.startswith("an empty document (a `---` with no document after it)")


def test_files_found_recursively_in_sorted_order(repo: Path) -> None:
    for relative in ("b.yml", "a/z.yaml", "a/y.yaml", "c.txt", ".hidden/x.yaml"):
        path = repo / "specs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x: 1\n")
    files, problems = find_spec_files([Path("specs"), Path("specs/b.yml")])
    assert problems == []
    assert files == [Path("specs/a/y.yaml"), Path("specs/a/z.yaml"), Path("specs/b.yml")]


def test_a_symlinked_spec_file_counts_once_and_a_folder_linked_outside_is_not_entered(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "specs/a.yaml").write_text(
        QUBRID.format(name="a", dataset="../datasets/support-qa.csv")
    )
    (repo / "specs/also-a.yaml").symlink_to("a.yaml")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b.yaml").write_text(QUBRID.format(name="b", dataset="{id: ds-1}"))
    (repo / "specs/linked").symlink_to(outside, target_is_directory=True)
    files, problems = find_spec_files([Path("specs")])
    assert problems == []
    assert files == [Path("specs/a.yaml")]  # the link to it is the same file
    assert [spec.name for spec in load_specs([Path("specs")])] == ["a"]
    # Named explicitly, a file behind a link out of the repository is refused by name.
    with pytest.raises(InvalidInputError) as caught:
        load_specs([Path("specs/linked/b.yaml")], check_datasets=False, use_cache=False)
    [problem] = caught.value.diagnostics
    assert problem.file == "specs/linked/b.yaml"
    assert "leads outside the repository" in problem.message


def test_the_real_path_of_a_spec_is_where_its_dataset_is_found_from(repo: Path) -> None:
    # specs/deep -> nested/dir: `../` in the spec climbs from where the file really is.
    (repo / "nested/dir").mkdir(parents=True)
    (repo / "nested/qa.csv").write_text("question,answer\nQ?,A.\n")
    (repo / "nested/dir/s.yaml").write_text(QUBRID.format(name="s", dataset="../qa.csv"))
    (repo / "specs/deep").symlink_to(repo / "nested/dir", target_is_directory=True)
    [spec] = load_specs([Path("specs/deep/s.yaml")])
    assert spec.dataset.path == repo / "nested/qa.csv"


def test_merge_keys_and_exponent_numbers(repo: Path) -> None:
    spec_text = (
        HEADER + "name: chat\nprovider: cohere\nbase_model: {base_type: BASE_TYPE_CHAT}\n"
        "dataset: ../datasets/support-chat.jsonl\n"
        "parameters:\n  <<: {train_epochs: 2, learning_rate: 1e-3}\n  train_epochs: 3\n"
    )
    (repo / "specs/cohere.yaml").write_text(spec_text)
    [spec] = load_specs([Path("specs")])
    assert spec.parameters == {"train_epochs": 3, "learning_rate": 0.001}


def test_quoted_exponent_stays_text(repo: Path) -> None:
    (repo / "specs/q.yaml").write_text(
        QUBRID.format(name="q", dataset="../datasets/support-qa.csv")
        + "parameters:\n  learning_rate: '1e-5'\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        load_specs([Path("specs")])
    [problem] = caught.value.diagnostics
    assert (problem.line, problem.col, problem.field) == (9, 18, "parameters.learning_rate")
    assert "expected a number, got the text `1e-5`" in problem.message


def test_url_and_id_datasets(repo: Path) -> None:
    (repo / "specs/remote.yaml").write_text(
        HEADER + "name: img\nprovider: segmind\nbase_model: FLUX_PRO\n"
        "dataset: {url: 'https://example.com/mascot.zip'}\ninstance_prompt: photo of TOK\n---\n"
        + QUBRID.format(name="qa", dataset="{id: ds-42}")
    )
    specs = by_name(load_specs([Path("specs")]))
    assert specs["img"].dataset.kind is DatasetKind.URL
    assert specs["img"].dataset.value == "https://example.com/mascot.zip"
    assert specs["qa"].dataset.kind is DatasetKind.ID and specs["qa"].dataset.value == "ds-42"


def test_segmind_access_default_from_reconciler_yaml_counts_as_set(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text("providers:\n  segmind:\n    access: public\n")
    (repo / "specs/img.yaml").write_text(
        HEADER + "name: img\nprovider: segmind\nbase_model: FLUX_PRO\n"
        "dataset: ../datasets/mascot/\ninstance_prompt: photo of TOK\n"
    )
    [spec] = load_specs([Path("specs")])
    assert spec.access == "public"
    assert "access" in spec.set_fields


def test_cohere_dataset_type_override_and_id(repo: Path) -> None:
    (repo / "specs/c.yaml").write_text(
        HEADER
        + "name: multi\nprovider: cohere\nbase_model: {base_type: BASE_TYPE_CLASSIFICATION}\n"
        "dataset: {id: labels-abc123}\ndataset_type: multi-label-classification-finetune-input\n"
    )
    [spec] = load_specs([Path("specs")])
    assert spec.dataset_type == "multi-label-classification-finetune-input"


def test_every_problem_of_every_file_is_collected(repo: Path) -> None:
    (repo / "specs/a.yaml").write_text(
        QUBRID.format(name="A", dataset="../datasets/missing.csv") + "parameters: {epochs: 0}\n"
    )
    (repo / "specs/b.yaml").write_text("kind: [\n")
    with pytest.raises(InvalidInputError) as caught:
        load_specs([Path("specs")])
    found = [(d.file, d.line, d.field) for d in caught.value.diagnostics]
    assert found == [
        ("specs/a.yaml", 3, "name"),
        ("specs/a.yaml", 6, "dataset"),
        ("specs/a.yaml", 8, "parameters.epochs"),
        ("specs/b.yaml", 2, ""),
    ]


def test_dataset_content_checks_can_be_skipped(repo: Path) -> None:
    (repo / "datasets/wrong.csv").write_text("q,a\nx,y\n")
    (repo / "specs/q.yaml").write_text(QUBRID.format(name="q", dataset="../datasets/wrong.csv"))
    with pytest.raises(InvalidInputError):
        load_specs([Path("specs")])
    assert [s.name for s in load_specs([Path("specs")], check_datasets=False)] == ["q"]


def test_no_paths_means_the_configured_spec_paths(repo: Path) -> None:
    (repo / "reconciler.yaml").write_text("spec_paths: [jobs]\n")
    (repo / "jobs").mkdir()
    (repo / "jobs/q.yaml").write_text(QUBRID.format(name="q", dataset="../datasets/support-qa.csv"))
    assert [spec.name for spec in load_specs([])] == ["q"]


def test_explicit_settings_are_used(repo: Path) -> None:
    settings, problems = read_settings(repo, environ={})
    assert problems == []
    (repo / "specs/q.yaml").write_text(
        QUBRID.format(name="q", dataset="../datasets/support-qa.csv")
    )
    assert [spec.name for spec in load_specs([Path("specs")], settings=settings)] == ["q"]


def billion_laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [9, 40])
def test_alias_bomb_stops_at_the_node_budget_with_bounded_memory(levels: int) -> None:
    tracemalloc.start()
    try:
        documents, problems = parse_yaml_text(billion_laughs(levels), "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert documents == []
    [problem] = problems
    assert f"more than {MAX_NODES_PER_DOCUMENT:,} YAML nodes" in problem.message
    assert (problem.line, problem.col) == (1, 1)
    # 9^40 strings if expanded; the budget keeps the walk to a few MB.
    assert peak < 20 * 1024 * 1024


def test_recursive_alias_is_stopped() -> None:
    documents, problems = parse_yaml_text("a: &x [1, *x]\n", "loop.yaml")
    assert documents == []
    assert "nests deeper than 64 levels" in problems[0].message


def test_infinite_numbers_are_refused() -> None:
    _, problems = parse_yaml_text("learning_rate: .inf\nsplit: .nan\n", "f.yaml")
    assert [(p.line, p.field) for p in problems] == [(1, "learning_rate"), (2, "split")]
    assert all("not a finite number" in p.message for p in problems)


@pytest.mark.parametrize(
    "field", ["dataset", "name", "base_model", "iterations", "access", "task_type", "parameters"]
)
@pytest.mark.parametrize("provider", ["segmind", "qubrid", "cohere"])
def test_a_non_finite_number_in_any_field_is_one_diagnostic_not_an_exception(
    repo: Path, provider: str, field: str
) -> None:
    # `.inf` is reported while reading the YAML, so the schema stays silent about it: the spec
    # must still not be built from it (a float dataset path once raised TypeError).
    document = {"name": "job", "provider": provider, "base_model": "QWEN", "dataset": "x.csv"}
    document[field] = ".inf"
    body = "".join(f"{key}: {value}\n" for key, value in document.items())
    (repo / "specs/a.yaml").write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(InvalidInputError) as raised:
        load_specs([repo / "specs"])
    fields = {(d.field, d.message) for d in raised.value.diagnostics}
    assert (field, "`.inf` is not a finite number; write a number") in fields


def test_positions_of_keys_and_values() -> None:
    [document], problems = parse_yaml_text(
        "# c\nname: x\nparameters:\n  steps:   1000\n  list: [a, 'b']\n", "f.yaml"
    )
    assert problems == []
    assert (document.start.line, document.start.col) == (2, 1)
    assert document.key_at(("parameters", "steps")) == document.keys[("parameters", "steps")]
    assert (
        document.keys[("parameters", "steps")].line,
        document.keys[("parameters", "steps")].col,
    ) == (4, 3)
    steps = document.values[("parameters", "steps")]
    assert (steps.line, steps.col) == (4, 12)
    second = document.values[("parameters", "list", 1)]
    assert (second.line, second.col) == (5, 13)
    assert ("parameters", "list", 0) in document.plain_scalars
    assert ("parameters", "list", 1) not in document.plain_scalars
    # A path never written falls back to its nearest written ancestor.
    assert document.value_at(("parameters", "missing")) == document.values[("parameters",)]


def test_timestamps_stay_text() -> None:
    [document], _ = parse_yaml_text("name: 2024-01-01\n", "f.yaml")
    assert document.value == {"name": "2024-01-01"}


SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "name",
    "base_model",
    "dataset",
    "access",
    "trigger_word",
    "instance_prompt",
    "theme",
    "machine_type",
    "train_type",
    "task_type",
    "csv_columns",
    "dataset_type",
    "wandb",
    "parameters",
    "stray",
]
DOCUMENTS = st.fixed_dictionaries(
    {
        "apiVersion": st.just("reconciler/v1"),
        "kind": st.just("FineTune"),
        "provider": st.sampled_from(["segmind", "qubrid", "cohere", "other"]),
    },
    optional={
        **dict.fromkeys(FIELDS, VALUES),
        "base_model": st.sampled_from(["QWEN", "FAST_FLUX", "FLUX_PRO", "FLUX"])
        | st.fixed_dictionaries({"base_type": st.sampled_from(["BASE_TYPE_CHAT", "BASE_TYPE_X"])})
        | VALUES,
        "dataset": st.sampled_from(
            ["../datasets/mascot/", "../datasets/support-qa.csv", "../../x", "/abs", ""]
        )
        | VALUES,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS)
def test_any_document_gives_a_spec_or_diagnostics_never_an_exception(
    document: dict[str, object],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / ".git").mkdir()
        shutil.copytree(REPO / "datasets", root / "datasets")
        (root / "specs").mkdir()
        (root / "specs/fuzz.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
        try:
            load_specs([root / "specs"])
        except InvalidInputError as error:
            assert error.diagnostics
            for diagnostic in error.diagnostics:
                assert diagnostic.line >= 1 and diagnostic.col >= 1
                assert diagnostic.message


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_parses_to_documents_or_diagnostics(text: str) -> None:
    documents, problems = parse_yaml_text(text, "f.yaml")
    assert all(document.file == "f.yaml" for document in documents)
    for problem in problems:
        assert problem.line >= 1 and problem.col >= 1
