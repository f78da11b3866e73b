"""One ``kind: FineTune`` document -> a ``FineTuneSpec``, or the diagnostics saying why not.

This module owns the checks that need more than the schema: the document header, where a
dataset path points (the rules are in ``dataset_paths``), and the fields a provider's profile
works out (``ProviderProfile.spec_fields``: Cohere's dataset type, the defaults from
``reconciler.yaml``). Dataset *content* checks run later, once per dataset, in
``reconciler.specs.loader``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from reconciler.config import Settings
from reconciler.core.diagnostics import Diagnostic
from reconciler.core.spec import (
    DatasetKind,
    DatasetRef,
    FineTuneSpec,
    Lifecycle,
    Provider,
    SourceLocation,
)
from reconciler.providers.profile import SpecFields
from reconciler.providers.profiles import PROFILES
from reconciler.specs.dataset_paths import RealPaths, resolve_dataset_path
from reconciler.yamlio.schema_check import schema_diagnostics
from reconciler.yamlio.schema_files import FINETUNE_SCHEMA
from reconciler.yamlio.yaml_source import YamlDocument, token

API_VERSION = "reconciler/v1"
KIND = "FineTune"


@dataclass(frozen=True)
class ParsedSpec:
    """A spec that passed every per-document check, with what the dataset checks need."""

    spec: FineTuneSpec
    document: YamlDocument


def header_diagnostics(document: YamlDocument) -> list[Diagnostic]:
    """Problems with what the document *is*: a mapping, ``apiVersion``, ``kind``."""
    value = document.value
    if not isinstance(value, dict):
        # Never quoted: this is no spec, and the file may be anything in the repository that a
        # spec path leads to (a token written there by a CI step is one word).
        found = "a list" if isinstance(value, list) else f"a single {_kind_of(value)}"
        return [
            document.diagnostic(
                (),
                f"a spec document is a mapping starting with `apiVersion: {API_VERSION}` and"
                f" `kind: {KIND}`; found {found}",
            )
        ]
    problems = []
    for field, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        if field not in value:
            problems.append(
                document.diagnostic(
                    (field,),
                    f"missing `{field}`; every spec document starts with"
                    f" `apiVersion: {API_VERSION}` and `kind: {KIND}`",
                )
            )
        elif value[field] != expected:
            what = "version" if field == "apiVersion" else "kind of document"
            problems.append(
                document.diagnostic(
                    (field,),
                    f"{token(value[field])} is not a {what} reconcile reads; only"
                    f" `apiVersion: {API_VERSION}`, `kind: {KIND}` documents belong under the"
                    " spec paths",
                )
            )
    return problems


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "true/false value"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else "value"


def parse_finetune(
    document: YamlDocument,
    spec_file: Path,
    settings: Settings,
    real_paths: RealPaths | None = None,
) -> tuple[ParsedSpec | None, list[Diagnostic]]:
    """The spec of a document whose header is right, or every problem found in it.

    ``real_paths`` resolves symlinks for the dataset path checks (a fresh one by default)."""
    problems = schema_diagnostics(document, FINETUNE_SCHEMA)
    value: dict[str, Any] = document.value
    # A provider the schema refused is no key of PROFILES: no dataset is resolved for it.
    provider = cast(Provider, value.get("provider"))
    # A value found wrong while reading the YAML (`.inf`) was said there, not by the schema:
    # it counts as a problem here too, so no spec is built from it.
    dataset_wrong = any(p.field.split(".")[0] == "dataset" for p in problems) or any(
        path[:1] == ("dataset",) for path in document.reported
    )
    dataset: DatasetRef | None = None
    if provider in PROFILES and "dataset" in value and not dataset_wrong:
        dataset, found = _resolve_dataset(
            document, spec_file, settings.root, provider, real_paths or RealPaths()
        )
        problems.extend(found)
    if problems or dataset is None or document.reported:
        return None, problems

    fields = PROFILES[provider].spec_fields(value, dataset, settings.providers[provider].options)
    if not isinstance(fields, SpecFields):
        return None, [document.diagnostic(problem.path, problem.message) for problem in fields]
    return ParsedSpec(_build(document, provider, dataset, fields), document), []


def _build(
    document: YamlDocument, provider: Provider, dataset: DatasetRef, fields: SpecFields
) -> FineTuneSpec:
    value: dict[str, Any] = document.value
    base_model = value["base_model"]
    # The fields as the document writes them, then what its provider works out on top (a
    # default access, Kontext's only machine, Cohere's dataset type and CSV columns).
    written: dict[str, Any] = {
        field: value.get(field)
        for field in (
            "access",
            "trigger_word",
            "instance_prompt",
            "theme",
            "machine_type",
            "train_type",
            "task_type",
        )
    }
    worked_out = {**written, "csv_columns": None, "dataset_type": None, **fields.values}
    return FineTuneSpec(
        name=value["name"],
        provider=provider,
        base_model=base_model.get("name", "") if isinstance(base_model, dict) else base_model,
        dataset=dataset,
        source=SourceLocation(Path(document.file), document.start.line, document.start.col),
        base_type=base_model.get("base_type") if isinstance(base_model, dict) else None,
        parameters=dict(value.get("parameters") or {}),
        wandb=dict(value["wandb"]) if "wandb" in value else None,
        adopt=tuple(value.get("adopt", ())),
        lifecycle=Lifecycle(**value.get("lifecycle", {})),
        **worked_out,
        set_fields=frozenset((set(value) - {"apiVersion", "kind"}) | fields.set_fields),
    )


def _resolve_dataset(
    document: YamlDocument,
    spec_file: Path,
    root: Path,
    provider: Provider,
    real_paths: RealPaths,
) -> tuple[DatasetRef | None, list[Diagnostic]]:
    raw = document.value["dataset"]
    if isinstance(raw, dict):
        if "url" in raw:
            return DatasetRef(DatasetKind.URL, raw["url"]), []
        return DatasetRef(DatasetKind.ID, raw["id"]), []
    spec_dir = os.path.dirname(real_paths.real_str(spec_file))  # noqa: PTH120 (strings, as in RealPaths)
    found = resolve_dataset_path(raw, spec_dir, root, provider, real_paths)
    if isinstance(found, str):
        return None, [document.diagnostic(("dataset",), found)]
    return found, []
