"""The JSON Schemas: valid 2020-12, in step with the code, and satisfied by every example."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler import __version__, naming
from reconciler.core.spec import PROVIDERS, Provider
from reconciler.providers.profiles import PROFILES
from reconciler.yamlio.schema_check import load_schema, schema_path
from tests.support.paths import REPO

SCHEMAS = sorted((REPO / "schemas").glob("*.json"))
EXAMPLES = sorted((REPO / "specs").rglob("*.yaml"))


def test_both_schemas_exist() -> None:
    assert [p.name for p in SCHEMAS] == ["config.schema.json", "finetune.schema.json"]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_passes_the_2020_12_metaschema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(path.name)
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_the_id_is_the_file_at_this_release_tag(path: Path) -> None:
    # A release tag never moves, so the file at this address never changes (docs/specs.md,
    # Editor support); pyproject's version and the tag `v<version>` are one.
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$id"] == (
        f"https://raw.githubusercontent.com/OWNER/reconcile/v{__version__}/schemas/{path.name}"
    )
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert f'\nversion = "{__version__}"\n' in pyproject
    if path.name == "finetune.schema.json":
        docs = (REPO / "docs" / "specs.md").read_text(encoding="utf-8")
        assert f"# yaml-language-server: $schema={schema['$id']}\n" in docs


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(found for value in node.values() for found in _walk(value))]
    if isinstance(node, list):
        return [found for value in node for found in _walk(value)]
    return []


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_ref_stays_inside_the_file(path: Path) -> None:
    # A copy written anywhere (`reconcile schema --out`) needs no other file and no network.
    schema = json.loads(path.read_text(encoding="utf-8"))
    refs = [node["$ref"] for node in _walk(schema) if "$ref" in node]
    assert refs
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_number_field_must_be_finite(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    finite_number = schema["$defs"].pop("finite_number")
    numbers = [node for node in _walk(schema) if node.get("type") == "number"]
    assert len(numbers) > 1
    for node in numbers:
        assert node.get("$ref") == "#/$defs/finite_number", node
    schema["$defs"]["finite_number"] = finite_number
    finite = Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/finite_number"})
    for good in (0, 0.0004, -1.5, 1e300):
        assert finite.is_valid(good), good
    for bad in (float("inf"), float("-inf"), float("nan")):
        assert not finite.is_valid(bad), bad


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_top_level_field_is_described(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{path.name}: {name} has no description"
        assert field.get("title"), f"{path.name}: {name} has no title"


def _parameter_schemas(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in schema["$defs"].items() if k.endswith("_parameters")}


def test_every_parameter_is_described() -> None:
    schema = load_schema("finetune.schema.json")
    for owner, parameters in _parameter_schemas(schema).items():
        assert parameters["additionalProperties"] is False, owner
        for name, field in parameters["properties"].items():
            described = field.get("description") or field.get("errorMessage")
            assert described, f"{owner}.{name} has no description"


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_validates_against_the_schema(spec: Path) -> None:
    validator = Draft202012Validator(load_schema("finetune.schema.json"))
    for document in yaml.safe_load_all(spec.read_text(encoding="utf-8")):
        errors = [error.message for error in validator.iter_errors(document)]
        assert errors == [], f"{spec.name}: {errors}"


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.name)
def test_example_spec_carries_the_modeline(spec: Path) -> None:
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/finetune.schema.json"
    assert (spec.parent / "../schemas/finetune.schema.json").resolve().is_file()


def test_examples_cover_every_provider_and_segmind_base_model() -> None:
    seen = set()
    for spec in EXAMPLES:
        for document in yaml.safe_load_all(spec.read_text(encoding="utf-8")):
            model = document["base_model"]
            variant = (
                model["base_type"] if isinstance(model, dict) else document.get("task_type", model)
            )
            seen.add((document["provider"], variant))
    assert seen == {
        ("segmind", "QWEN"),
        ("segmind", "FAST_FLUX"),
        ("segmind", "FLUX_PRO"),
        ("segmind", "FLUX"),
        ("qubrid", "qa"),
        ("qubrid", "not_qa"),
        ("cohere", "BASE_TYPE_CHAT"),
        ("cohere", "BASE_TYPE_CLASSIFICATION"),
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_schema_name_rule_is_the_naming_module_rule(provider: Provider) -> None:
    name_schema = load_schema("finetune.schema.json")["$defs"][provider]["properties"]["name"]
    assert name_schema["maxLength"] == PROFILES[provider].max_name_length
    assert name_schema["pattern"] == naming.NAME_SCHEMA_PATTERN
    pattern = re.compile(name_schema["pattern"])
    names = ("mascot", "mascot-flux-v1", "a1", "-x", "x-", "a--b", "A", "a_b", "a.b")
    # jsonschema matches with re.search, where `$` also matches before a final newline.
    for name in (*names, "foo\n", "foo\n\n", "\nfoo", "foo\r\n", "foo\u2028"):
        assert bool(pattern.search(name)) == naming.is_valid_name(name), name


def test_no_schema_pattern_ends_where_a_final_newline_would_pass() -> None:
    # `$` matches before a final newline in Python (jsonschema uses re.search): `name: |`
    # gives "foo\n", which must fail here as it fails the naming module's full match.
    for schema_name in ("finetune.schema.json", "config.schema.json"):
        text = json.dumps(load_schema(schema_name))
        assert not re.search(r'"pattern": "[^"]*\$"', text), schema_name


def test_segmind_fields_documented_ranges() -> None:
    flux_pro = load_schema("finetune.schema.json")["$defs"]["segmind_FLUX_PRO_parameters"]
    properties = flux_pro["properties"]
    assert properties["iterations"]["minimum"] == 100
    assert properties["iterations"]["default"] == 300
    assert properties["lora_rank"]["enum"] == [16, 32]
    assert properties["lora_rank"]["default"] == 32
    assert properties["finetune_type"]["enum"] == ["FULL", "LORA"]
    assert properties["finetune_type"]["default"] == "FULL"
    assert properties["priority"]["enum"] == ["SPEED", "QUALITY", "HIGH_RES_ONLY"]


def test_undocumented_limits_are_said_to_be_undocumented() -> None:
    schema = load_schema("finetune.schema.json")["$defs"]
    assert (
        "documents no range"
        in schema["segmind_QWEN_parameters"]["properties"]["steps"]["description"]
    )
    assert (
        "documents no range"
        in schema["cohere_parameters"]["properties"]["lora_rank"]["description"]
    )
    assert "maximum" not in schema["segmind_FLUX_PRO_parameters"]["properties"]["iterations"]


def test_schema_files_are_found_in_the_checkout() -> None:
    assert schema_path("finetune.schema.json") == REPO / "schemas" / "finetune.schema.json"
    with pytest.raises(FileNotFoundError, match="reinstall"):
        schema_path("missing.schema.json")


def test_schema_files_fall_back_to_the_installed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.yamlio import schema_check

    installed = tmp_path / "reconciler" / "_schemas"
    installed.mkdir(parents=True)
    (installed / "finetune.schema.json").write_text("{}")
    monkeypatch.setattr(schema_check, "_SCHEMA_DIRS", (tmp_path / "schemas", installed))
    assert schema_path("finetune.schema.json") == installed / "finetune.schema.json"


def test_the_cross_field_rules_are_the_profiles_facts() -> None:
    # Rules the loader once checked in the profiles are the schema's now, so that editors show
    # them too; the profiles keep the facts (machines, dataset types) they are made of.
    from reconciler.providers.cohere.profile import EXTENSIONS_BY_TYPE, TYPES_BY_BASE_TYPE
    from reconciler.providers.segmind.profile import FLUX_MACHINES

    schema = load_schema("finetune.schema.json")["$defs"]
    [flux_rule] = schema["segmind_FLUX"]["allOf"]
    assert flux_rule["else"]["required"] == ["machine_type"]
    assert ", ".join(FLUX_MACHINES) in flux_rule["else"]["errorMessage"]
    fits = {
        rule["if"]["properties"]["base_model"]["properties"]["base_type"]["const"]: tuple(
            rule["then"]["properties"]["dataset_type"]["enum"]
        )
        for rule in schema["cohere"]["allOf"]
        if "dataset_type" in rule.get("then", {}).get("properties", {})
    }
    assert fits == dict(TYPES_BY_BASE_TYPE)
    extensions = {
        rule["if"]["properties"]["dataset_type"]["const"]: rule["then"]["properties"]["dataset"]
        for rule in schema["cohere"]["allOf"]
        if "dataset_type" in rule["if"]["properties"]
        and "dataset" in rule.get("then", {}).get("properties", {})
    }
    assert extensions.keys() == EXTENSIONS_BY_TYPE.keys()
    for dataset_type, allowed in EXTENSIONS_BY_TYPE.items():
        pattern = re.compile(extensions[dataset_type]["pattern"])
        for suffix in (".csv", ".jsonl", ".json", ".txt"):
            for name in (f"d{suffix}", f"d{suffix.upper()}"):
                assert bool(pattern.search(name)) is (suffix in allowed), (dataset_type, name)
        assert all(suffix in extensions[dataset_type]["errorMessage"] for suffix in allowed)
