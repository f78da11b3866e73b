"""Loading every spec under the given paths: discovery, per-document checks, cross-file checks.

This module owns the order of validation. Every file is read and checked, every problem of
every file is collected, and only then is one ``InvalidInputError`` raised: a person fixes
all their specs in one pass, and nothing is sent anywhere while any spec is wrong. The
cross-file checks live here too: duplicate ``(provider, name)`` pairs, and dataset content
checks (run once per dataset even when several specs share it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reconciler.config import CONFIG_FILE_NAME, Settings, find_repo_root, read_settings
from reconciler.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.model import FineTuneSpec
from reconciler.specs.finetune import ParsedSpec, header_diagnostics, parse_finetune
from reconciler.specs.yaml_source import read_yaml_file

SPEC_SUFFIXES = (".yaml", ".yml")


def load_specs(
    paths: Sequence[Path],
    *,
    settings: Settings | None = None,
    check_datasets: bool = True,
) -> list[FineTuneSpec]:
    """Every ``FineTune`` spec under ``paths``, in file order, or ``InvalidInputError``.

    ``paths`` are spec files or folders searched recursively for ``*.yaml``/``*.yml``; when
    empty, ``settings.spec_paths`` (``reconciler.yaml``'s ``spec_paths``, default ``specs/``).
    Without ``settings``, the repository root is found from the first path (see
    ``reconciler.config.find_repo_root``) and its ``reconciler.yaml`` is read; its problems are
    reported with the specs'. ``check_datasets`` runs the dataset content checks.
    """
    problems: list[Diagnostic] = []
    if settings is None:
        settings, problems = read_settings(find_repo_root(paths))
    files, found = find_spec_files(list(paths) or list(settings.spec_paths))
    problems.extend(found)
    parsed: list[ParsedSpec] = []
    for file in files:
        specs, found = _load_file(file, settings)
        parsed.extend(specs)
        problems.extend(found)
    problems.extend(_duplicates(parsed))
    if check_datasets:
        problems.extend(_dataset_content_problems(parsed))
    if problems:
        raise InvalidInputError(problems)
    return [item.spec for item in parsed]


def find_spec_files(paths: Sequence[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """The spec files under ``paths``, sorted per path, each once; hidden folders skipped.

    A file named explicitly is taken whatever its extension; ``reconciler.yaml`` is never a
    spec, so a walk from the repository root skips it.
    """
    files: list[Path] = []
    problems: list[Diagnostic] = []
    seen: set[Path] = set()

    def add(file: Path) -> None:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            files.append(file)

    for path in paths:
        if path.is_file():
            add(path)
        elif path.is_dir():
            found = sorted(_walk(path))
            if not found:
                problems.append(
                    Diagnostic(
                        display_path(path),
                        1,
                        1,
                        "",
                        "no *.yaml or *.yml spec files in this folder; give the folder that"
                        " holds the specs",
                    )
                )
            for file in found:
                add(file)
        else:
            problems.append(
                Diagnostic(
                    display_path(path),
                    1,
                    1,
                    "",
                    "no such file or folder; give spec files or folders of specs",
                )
            )
    return files, problems


def _walk(folder: Path) -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(folder):
        # Hidden folders hold tooling (.git, .reconcile, .github), never specs.
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for name in names:
            if (
                name.endswith(SPEC_SUFFIXES)
                and not name.startswith(".")
                and name != CONFIG_FILE_NAME
            ):
                found.append(Path(directory) / name)
    return found


def _load_file(file: Path, settings: Settings) -> tuple[list[ParsedSpec], list[Diagnostic]]:
    display = display_path(file)
    documents, problems = read_yaml_file(file, display)
    if not documents and not problems:
        problems.append(
            Diagnostic(
                display,
                1,
                1,
                "",
                "the file holds no YAML documents, only comments; add a `kind: FineTune`"
                " document or delete the file",
            )
        )
    specs = []
    for document in documents:
        header = header_diagnostics(document)
        if header:
            problems.extend(header)
            continue
        spec, found = parse_finetune(document, file, settings)
        problems.extend(found)
        if spec is not None:
            specs.append(spec)
    return specs, problems


def _duplicates(parsed: list[ParsedSpec]) -> list[Diagnostic]:
    by_key: dict[tuple[str, str], list[ParsedSpec]] = {}
    for item in parsed:
        by_key.setdefault(item.spec.key, []).append(item)
    problems = []
    for (provider, name), items in by_key.items():
        if len(items) < 2:
            continue
        for item in items:
            others = ", ".join(
                f"{other.document.file}:{other.document.value_at(('name',)).line}"
                for other in items
                if other is not item
            )
            problems.append(
                item.document.diagnostic(
                    ("name",),
                    f"duplicate job: {provider} `{name}` is also defined at {others};"
                    " names are unique per provider, rename one",
                )
            )
    return problems


def _dataset_content_problems(parsed: list[ParsedSpec]) -> list[Diagnostic]:
    from reconciler.datasets import check_dataset

    users: dict[tuple[object, ...], list[ParsedSpec]] = {}
    for item in parsed:
        spec = item.spec
        if not spec.dataset.is_local:
            continue
        key = (
            spec.provider,
            spec.dataset.value,
            spec.task_type,
            spec.csv_columns,
            spec.dataset_type,
        )
        users.setdefault(key, []).append(item)
    problems: list[Diagnostic] = []
    for specs in users.values():
        spec = specs[0].spec
        found = check_dataset(
            spec.provider,
            spec.dataset.path,
            task_type=spec.task_type,
            csv_columns=spec.csv_columns,
            dataset_type=spec.dataset_type,
        )
        for problem in found:
            if problem.line is not None:
                problems.append(
                    Diagnostic(
                        display_path(problem.path),
                        problem.line,
                        1,
                        "dataset",
                        f"{problem.message} (dataset of {_users(specs)})",
                    )
                )
                continue
            where = "" if problem.path == spec.dataset.path else f"{display_path(problem.path)}: "
            for item in specs:
                problems.append(item.document.diagnostic(("dataset",), where + problem.message))
    return problems


def _users(specs: list[ParsedSpec]) -> str:
    first = specs[0]
    text = f"{first.spec.provider} `{first.spec.name}` in {first.document.file}"
    if len(specs) > 1:
        text += f" and {len(specs) - 1} other spec{'s' if len(specs) > 2 else ''}"
    return text
