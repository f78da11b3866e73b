"""One ``kind: FineTune`` document -> a ``FineTuneSpec``, or the diagnostics saying why not.

This module owns the checks that need more than the schema: the document header, where a
dataset path points (inside the repository, existing, of a kind the provider takes), the
Cohere dataset type, and the defaults from ``reconciler.yaml``. Dataset *content* checks run
later, once per dataset, in ``reconciler.specs.loader``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from reconciler.config import Settings
from reconciler.diagnostics import Diagnostic, display_path
from reconciler.model import DatasetKind, DatasetRef, FineTuneSpec, Provider, SourceLocation
from reconciler.specs.schema_check import schema_diagnostics
from reconciler.specs.yaml_source import YamlDocument, did_you_mean

API_VERSION = "reconciler/v1"
KIND = "FineTune"
FINETUNE_SCHEMA = "finetune.schema.json"

CHAT = "chat-finetune-input"
SINGLE_LABEL = "single-label-classification-finetune-input"
MULTI_LABEL = "multi-label-classification-finetune-input"
RERANK = "reranker-finetune-input"
# Which Cohere dataset types fit each base type; the first is the one used when unset.
_COHERE_TYPES_BY_BASE: dict[str, tuple[str, ...]] = {
    "BASE_TYPE_CHAT": (CHAT,),
    "BASE_TYPE_CLASSIFICATION": (SINGLE_LABEL, MULTI_LABEL),
    "BASE_TYPE_RERANK": (RERANK,),
}
# File extensions each Cohere dataset type can be uploaded as.
_COHERE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    CHAT: (".jsonl",),
    SINGLE_LABEL: (".csv", ".jsonl"),
    MULTI_LABEL: (".jsonl",),
    RERANK: (".jsonl",),
}


@dataclass(frozen=True)
class ParsedSpec:
    """A spec that passed every per-document check, with what the dataset checks need."""

    spec: FineTuneSpec
    document: YamlDocument


def header_diagnostics(document: YamlDocument) -> list[Diagnostic]:
    """Problems with what the document *is*: a mapping, ``apiVersion``, ``kind``."""
    value = document.value
    if not isinstance(value, dict):
        found = "a list" if isinstance(value, list) else f"the value `{value}`"
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
                    f"`{value[field]}` is not a {what} reconcile reads; only"
                    f" `apiVersion: {API_VERSION}`, `kind: {KIND}` documents belong under the"
                    " spec paths",
                )
            )
    return problems


def parse_finetune(
    document: YamlDocument, spec_file: Path, settings: Settings
) -> tuple[ParsedSpec | None, list[Diagnostic]]:
    """The spec of a document whose header is right, or every problem found in it."""
    problems = schema_diagnostics(document, FINETUNE_SCHEMA)
    value: dict[str, Any] = document.value
    provider = value.get("provider")
    dataset_problems = [p for p in problems if p.field.split(".")[0] == "dataset"]
    dataset: DatasetRef | None = None
    if provider in ("segmind", "qubrid", "cohere") and "dataset" in value and not dataset_problems:
        dataset, found = _resolve_dataset(document, spec_file, settings.root, provider)
        problems.extend(found)
    if problems or dataset is None:
        return None, problems

    dataset_type = None
    if provider == "cohere":
        dataset_type, found = _cohere_dataset_type(document, dataset)
        if found:
            return None, found
    spec = _build(document, cast(Provider, provider), dataset, dataset_type, settings)
    return ParsedSpec(spec, document), []


def _build(
    document: YamlDocument,
    provider: Provider,
    dataset: DatasetRef,
    dataset_type: str | None,
    settings: Settings,
) -> FineTuneSpec:
    value: dict[str, Any] = document.value
    set_fields = set(value) - {"apiVersion", "kind"}
    base_model = value["base_model"]
    access = value.get("access")
    if provider == "segmind" and access is None and settings.segmind.access is not None:
        access = settings.segmind.access
        set_fields.add("access")  # a repository-wide default is intent too: drift is reported
    csv_columns = None
    if provider == "qubrid":
        written = value.get("csv_columns")
        csv_columns = (
            tuple(written) if written else settings.qubrid.csv_columns.get(value["task_type"], ())
        )
    return FineTuneSpec(
        name=value["name"],
        provider=provider,
        base_model=base_model.get("name", "") if isinstance(base_model, dict) else base_model,
        dataset=dataset,
        source=SourceLocation(Path(document.file), document.start.line, document.start.col),
        access=access,
        trigger_word=value.get("trigger_word"),
        instance_prompt=value.get("instance_prompt"),
        theme=value.get("theme"),
        machine_type=value.get("machine_type"),
        train_type=value.get("train_type"),
        task_type=value.get("task_type"),
        csv_columns=csv_columns,
        base_type=base_model.get("base_type") if isinstance(base_model, dict) else None,
        dataset_type=dataset_type,
        parameters=dict(value.get("parameters") or {}),
        wandb=dict(value["wandb"]) if "wandb" in value else None,
        set_fields=frozenset(set_fields),
    )


def _resolve_dataset(
    document: YamlDocument, spec_file: Path, root: Path, provider: str
) -> tuple[DatasetRef | None, list[Diagnostic]]:
    raw = document.value["dataset"]
    if isinstance(raw, dict):
        if "url" in raw:
            return DatasetRef(DatasetKind.URL, raw["url"]), []
        return DatasetRef(DatasetKind.ID, raw["id"]), []

    def problem(message: str) -> tuple[None, list[Diagnostic]]:
        return None, [document.diagnostic(("dataset",), message)]

    if Path(raw).is_absolute() or raw.startswith("~"):
        return problem(
            f"`{raw}` is an absolute path; write the path relative to the spec file"
            " (e.g. ../datasets/...) so it works on every machine"
        )
    # Lexically first: `..` that climbs out of the repository is wrong whatever exists there.
    lexical = Path(os.path.normpath(spec_file.resolve().parent / raw))
    if not lexical.is_relative_to(root):
        return problem(
            f"`{raw}` points outside the repository at {root}; datasets must live inside it"
            " so every machine sees the same files"
        )
    if not lexical.exists():
        return problem(
            f"`{raw}` does not exist (looked for {display_path(lexical)}){_near(lexical)}"
        )
    real = lexical.resolve()
    if not real.is_relative_to(root):
        return problem(
            f"`{raw}` leads through a symlink to {real}, outside the repository; copy the data"
            " into the repository instead"
        )
    kind = DatasetKind.FOLDER if real.is_dir() else DatasetKind.FILE
    wrong = _wrong_kind(provider, raw, real, kind)
    if wrong:
        return problem(wrong)
    return DatasetRef(kind, str(real)), []


def _near(missing: Path) -> str:
    parent = missing.parent
    if not parent.is_dir():
        return ""
    try:
        siblings = sorted(entry.name for entry in parent.iterdir())
    except OSError:
        return ""
    return did_you_mean(missing.name, siblings)


def _wrong_kind(provider: str, raw: str, real: Path, kind: DatasetKind) -> str | None:
    suffix = real.suffix.lower()
    what = "a folder" if kind is DatasetKind.FOLDER else f"a {suffix or 'extension-less'} file"
    if provider == "segmind" and kind is DatasetKind.FILE and suffix != ".zip":
        return (
            f"`{raw}` is {what}; Segmind takes a folder of images, a .zip of images or"
            " {url: https://...}"
        )
    if provider == "qubrid" and (kind is DatasetKind.FOLDER or suffix != ".csv"):
        return f"`{raw}` is {what}; Qubrid takes a .csv file or {{id: ...}} of an uploaded dataset"
    if provider == "cohere" and (kind is DatasetKind.FOLDER or suffix not in (".jsonl", ".csv")):
        return (
            f"`{raw}` is {what}; Cohere takes a .jsonl (chat, rerank) or .csv (classification)"
            " file, or {id: ...} of an uploaded dataset"
        )
    return None


def _cohere_dataset_type(
    document: YamlDocument, dataset: DatasetRef
) -> tuple[str | None, list[Diagnostic]]:
    value: dict[str, Any] = document.value
    base_type = value["base_model"]["base_type"]
    fitting = _COHERE_TYPES_BY_BASE.get(base_type)
    explicit = value.get("dataset_type")
    if explicit is not None and fitting is not None and explicit not in fitting:
        return None, [
            document.diagnostic(
                ("dataset_type",),
                f"`{explicit}` does not fit base_type {base_type}; use"
                f" {' or '.join(fitting)} (or leave dataset_type out)",
            )
        ]
    dataset_type = explicit or (fitting[0] if fitting else None)
    if dataset_type is None or not dataset.is_local:
        return dataset_type, []
    suffix = dataset.path.suffix.lower()
    allowed = _COHERE_EXTENSIONS[dataset_type]
    if suffix not in allowed:
        return None, [
            document.diagnostic(
                ("dataset",),
                f"{base_type} trains on {dataset_type} data, which is uploaded as"
                f" {' or '.join(allowed)}; `{value['dataset']}` is a {suffix} file",
            )
        ]
    return dataset_type, []
