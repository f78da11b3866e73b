"""Spec files from imported documents: rendered, checked as ``reconcile validate`` would, written.

``prepare_files`` renders each document (the schema modeline, a header saying where it came
from, then YAML that reads back as the same values) and checks it with the spec loader's own
code; an optional field that fails validation (a parameter this version does not know) is
left out and said so, and a job whose required fields cannot be written validly is skipped.
``write_files`` writes every file or none: never over a file that exists.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from reconciler.config import Settings
from reconciler.core.diagnostics import Diagnostic, display_path
from reconciler.importer import ImportRefusedError
from reconciler.importer.document import FIELD_ORDER, OPTIONAL_FIELDS, ImportedSpec, SkippedJob
from reconciler.sanitize import one_line
from reconciler.specs.finetune import header_diagnostics, parse_finetune
from reconciler.yamlio.schema_files import FINETUNE_SCHEMA, published_url
from reconciler.yamlio.yaml_source import parse_yaml_text, reads_as_text

SCHEMA_FILE = Path("schemas") / FINETUNE_SCHEMA
SPEC_SUFFIX = ".yaml"


@dataclass(frozen=True)
class SpecFile:
    """A rendered spec and where it goes."""

    path: Path
    text: str
    spec: ImportedSpec


class _SpecDumper(yaml.SafeDumper):
    """Safe YAML whose text the spec reader reads back as the same values.

    The reader reads plain scalars by YAML 1.2 (``1e-5`` and ``0o17`` are numbers); PyYAML's
    resolver is YAML 1.1's and would leave such strings unquoted, so those are quoted here.
    (Strings YAML 1.1 alone reads otherwise, such as ``yes``, PyYAML quotes already: other
    YAML 1.1 readers of the file see text too.)
    """


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if not value.isprintable():
        # Escaped in double quotes: written raw, NEL or a line separator would read back as a
        # line break.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if not reads_as_text(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_SpecDumper.add_representer(str, _represent_str)


def schema_modeline(out_dir: Path, root: Path) -> str:
    """The yaml-language-server modeline of a spec in ``out_dir``: the repository's copy of
    the schema (``schemas/finetune.schema.json``, written by ``reconcile schema --out``),
    relative to it with forward slashes; without one, the schema's published address."""
    schema = (root / SCHEMA_FILE).resolve()
    if not schema.is_file():
        return f"# yaml-language-server: $schema={published_url(FINETUNE_SCHEMA)}"
    relative = os.path.relpath(schema, out_dir.resolve())
    return f"# yaml-language-server: $schema={Path(relative).as_posix()}"


def render_spec(spec: ImportedSpec, modeline: str) -> str:
    """The file's text: the modeline, a header saying where it came from, then the YAML.

    The provider's job id and status are escaped in the header: a line break in either must
    not end the comment and start YAML of its own."""
    header = [
        modeline,
        f"# Imported by `reconcile import` from {spec.provider} job {one_line(spec.remote_id)}"
        f" ({one_line(spec.raw_status) or 'status unknown'}).",
    ]
    for note in spec.notes:
        header.extend(
            textwrap.wrap(one_line(note), width=96, initial_indent="# ", subsequent_indent="#   ")
        )
    body = yaml.dump(
        dict(spec.document),
        Dumper=_SpecDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
    )
    return "\n".join(header) + "\n" + body


def check_spec_text(text: str, path: Path, settings: Settings) -> list[Diagnostic]:
    """What ``reconcile validate`` would report for ``text`` written at ``path`` (one
    document with a remote dataset: no file is read)."""
    documents, problems = parse_yaml_text(text, display_path(path))
    if problems or len(documents) != 1:
        return problems or [Diagnostic(display_path(path), 1, 1, "", "not one YAML document")]
    document = documents[0]
    problems = header_diagnostics(document)
    if problems:
        return problems
    _, problems = parse_finetune(document, path, settings)
    return problems


def _checked_file(
    spec: ImportedSpec, path: Path, modeline: str, settings: Settings
) -> SpecFile | SkippedJob:
    """The spec rendered and checked; optional fields that fail are left out (and noted),
    required ones make the job skipped."""
    for _ in range(len(FIELD_ORDER) + 1):
        text = render_spec(spec, modeline)
        problems = check_spec_text(text, path, settings)
        if not problems:
            if not _reads_back(text, spec.document):
                return SkippedJob(
                    spec.provider,
                    spec.remote_id,
                    spec.name,
                    "a value would not read back as the list shows it; write this spec by hand",
                )
            return SpecFile(path, text, spec)
        dropped = _without_invalid_optionals(spec, problems)
        if dropped is None:
            reasons = "; ".join(f"{p.field or 'spec'}: {p.message}" for p in problems)
            return SkippedJob(
                spec.provider,
                spec.remote_id,
                spec.name,
                f"it cannot be written as a valid spec ({reasons})",
            )
        spec = dropped
    raise AssertionError("unreachable: every round leaves out at least one field")


def _reads_back(text: str, document: Mapping[str, Any]) -> bool:
    documents, _ = parse_yaml_text(text, "")
    return len(documents) == 1 and documents[0].value == dict(document)


def _without_invalid_optionals(
    spec: ImportedSpec, problems: Sequence[Diagnostic]
) -> ImportedSpec | None:
    """``spec`` without the optional fields (or parameters) ``problems`` are about, or
    ``None`` when a problem concerns a field a spec cannot do without."""
    document = dict(spec.document)
    notes = list(spec.notes)
    for problem in problems:
        top, _, rest = problem.field.partition(".")
        if top not in OPTIONAL_FIELDS:
            return None
        if top == "parameters" and rest:
            key = rest.split(".")[0]
            parameters = dict(document.get("parameters") or {})
            if key in parameters:
                value = parameters.pop(key)
                notes.append(
                    f"parameters.{key}: left out ({value!r} from the list: {problem.message});"
                    " it is not compared."
                )
            if parameters:
                document["parameters"] = parameters
            else:
                document.pop("parameters", None)
        elif top in document:
            value = document.pop(top)
            notes.append(
                f"{top}: left out ({value!r} from the list: {problem.message}); it is not compared."
            )
    if document == dict(spec.document):
        return None
    return replace(spec, document=document, notes=tuple(notes))


def prepare_files(
    specs: Iterable[ImportedSpec], out_dir: Path, settings: Settings
) -> tuple[list[SpecFile], list[SkippedJob]]:
    """Each spec rendered for ``out_dir/<name>.yaml`` and checked as ``reconcile validate``
    would; the ones that cannot be valid are skipped."""
    modeline = schema_modeline(out_dir, settings.root)
    files: list[SpecFile] = []
    skipped: list[SkippedJob] = []
    for spec in specs:
        made = _checked_file(spec, out_dir / f"{spec.name}{SPEC_SUFFIX}", modeline, settings)
        if isinstance(made, SkippedJob):
            skipped.append(made)
        else:
            files.append(made)
    return files, skipped


def write_files(files: Sequence[SpecFile]) -> None:
    """Write every file, or none: if any target exists, ``ImportRefusedError`` names them all
    and nothing is written. Each file is created exclusively, so one that appears meanwhile is
    not overwritten either."""
    existing = [f.path for f in files if f.path.exists() or f.path.is_symlink()]
    if existing:
        shown = ", ".join(display_path(p) for p in existing)
        files_word = "file" if len(existing) == 1 else "files"
        raise ImportRefusedError(
            f"refusing to overwrite {len(existing)} existing {files_word}"
            f" ({shown}); nothing was written. Move them away, or import into another folder"
            " with --out"
        )
    written: list[Path] = []
    for spec_file in files:
        try:
            spec_file.path.parent.mkdir(parents=True, exist_ok=True)
            with spec_file.path.open("x", encoding="utf-8", newline="\n") as stream:
                stream.write(spec_file.text)
        except OSError as error:
            done = f"; already written: {', '.join(map(display_path, written))}" if written else ""
            raise ImportRefusedError(
                f"{display_path(spec_file.path)}: cannot write ({error.strerror}){done}"
            ) from None
        written.append(spec_file.path)
