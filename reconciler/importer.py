"""Adoption: spec files written for jobs that already exist on a provider (``reconcile import``).

A team that trained jobs before using reconcile adopts them by importing: one list of the
provider (the adapter's ``observe``, as every command does), then one spec per remote job
name, written so that a dry run right after shows no change for it. The work is in three
steps, each usable on its own:

1. ``select_jobs`` (pure): which jobs become specs. Jobs are named as the diff names them
   (Qubrid jobs have no name: the marker in their dataset's name, else a name the profile
   derives from the job id, ``qubrid-<job id>``),
   the newest live job of a name is the one imported (as the diff pairs it), deleted or
   cancelled jobs are skipped, jobs that carry another repository's owner id are never
   imported, and ``--match`` filters names. A job without an owner id is adopted explicitly:
   its spec lists it under ``adopt``; a job carrying this repository's own owner id (whose spec
   was removed) needs no adoption.
2. ``spec_document`` (pure): one ``ObservedJob`` -> the spec's fields, in a fixed order; the
   provider's fields come from its profile (``ProviderProfile.import_fields``). Only what the
   list reveals is written, exactly as the list shows it; fields the schema requires but the
   list never shows (Segmind's trigger word) get a placeholder that the file's header points
   out; those fields are not compared by the diff, so the placeholder makes no change.
3. ``prepare_files`` and ``write_files``: each document is rendered (modeline, header, YAML),
   checked by the same code as ``reconcile validate``, and written only if no target exists.
   An optional field that fails validation (a parameter this version does not know) is left
   out and said so; a job whose required fields cannot be written validly is skipped.

``import_jobs`` composes the steps with settings, the embedded sandbox and the adapter; the
``ImportReport`` it returns is shown by ``reconciler.views.import_report``.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from reconciler.config import Settings
from reconciler.core.diagnostics import Diagnostic, display_path
from reconciler.core.observed import ObservedJob, ProviderObservation
from reconciler.core.spec import PROVIDERS, DatasetKind, DesiredJob, FineTuneSpec, Provider
from reconciler.naming import is_valid_name
from reconciler.providers.profile import NotImportable
from reconciler.providers.profiles import PROFILES
from reconciler.sanitize import one_line

DEFAULT_OUT_DIR = Path("specs/imported")
SCHEMA_FILE = Path("schemas/finetune.schema.json")
SPEC_SUFFIX = ".yaml"

# The order fields are written in: identity first, then what the job trains on and with.
FIELD_ORDER = (
    "apiVersion",
    "kind",
    "name",
    "provider",
    "adopt",
    "base_model",
    "dataset",
    "access",
    "trigger_word",
    "instance_prompt",
    "theme",
    "machine_type",
    "train_type",
    "task_type",
    "wandb",
    "parameters",
)
# Fields that may be left out when the remote value is not valid in a spec: the diff compares
# only what a spec sets, so leaving one out never shows a change.
OPTIONAL_FIELDS = frozenset(
    {"access", "theme", "machine_type", "train_type", "wandb", "parameters"}
)


@dataclass(frozen=True)
class ImportedSpec:
    """One spec to write: the job it adopts and its fields in writing order. ``notes`` say
    what the file's reader must know (placeholders, fields left out), one sentence each."""

    provider: Provider
    name: str
    remote_id: str
    raw_status: str
    document: Mapping[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedJob:
    """A remote job that is not imported, and why (in words for the user)."""

    provider: Provider
    remote_id: str
    name: str | None
    reason: str

    def __str__(self) -> str:
        called = f" ({self.name})" if self.name else ""
        return f"{self.provider} job {self.remote_id}{called}: {self.reason}"


@dataclass(frozen=True)
class Selection:
    """What one provider's list yields: the specs to write, the jobs skipped, and how many
    jobs' names did not match ``--match`` or are named by a spec already (these two are
    counted, not listed one by one)."""

    specs: tuple[ImportedSpec, ...]
    skipped: tuple[SkippedJob, ...]
    unmatched: int = 0
    managed: int = 0


@dataclass(frozen=True)
class SpecFile:
    """A rendered spec and where it goes."""

    path: Path
    text: str
    spec: ImportedSpec


@dataclass(frozen=True)
class ImportReport:
    """The outcome of ``reconcile import``: files written, jobs skipped, names not matched."""

    provider: Provider
    out_dir: Path
    written: tuple[SpecFile, ...]
    skipped: tuple[SkippedJob, ...]
    unmatched: int
    managed: int = 0
    match: str | None = None


class ImportRefusedError(Exception):
    """The import cannot go ahead (unreadable list, bad ``--match``, files in the way);
    nothing was written. The message says what to do."""


# --- 1. Selection ---------------------------------------------------------------------------


def _named_jobs(
    observation: ProviderObservation, managed: Sequence[FineTuneSpec], owner: str | None
) -> tuple[list[ObservedJob], list[SkippedJob]]:
    """The jobs with the names a spec must carry to pair with them in a dry run (a job an
    existing ``{id: ...}`` spec pairs with takes that spec's name, as in a plan), but for
    the jobs of other repositories (another owner id), which are skipped."""
    from reconciler.diff import identify_jobs

    skipped: list[SkippedJob] = []
    identified = []
    for job in identify_jobs(observation, [DesiredJob(spec) for spec in managed], owner):
        if job.owner is not None and job.owner != owner:
            reason = (
                f"it carries the owner id `{job.owner}` of another repository (this one's is"
                f" `{owner}`)"
                if owner
                else f"it carries the owner id `{job.owner}`, and reconciler.yaml sets no owner"
            )
            skipped.append(SkippedJob(job.provider, job.remote_id, job.remote_name, reason))
        else:
            identified.append(job)
    named = [job for job in identified if job.name]
    name_for = PROFILES[observation.provider].name_for_nameless_job
    if name_for is None:
        skipped.extend(
            SkippedJob(job.provider, job.remote_id, None, "the list shows no name for it")
            for job in identified
            if not job.name
        )
        return named, skipped
    # A job of a provider that keeps no names (Qubrid) without a marked dataset pairs with the
    # one spec whose {id: ...} is its dataset: jobs sharing a dataset are one name, named
    # after the job that is imported (the newest live one; the newest of all when none is).
    by_dataset: dict[str, list[ObservedJob]] = defaultdict(list)
    for job in identified:
        if job.name:
            continue
        if job.dataset_ref is None:
            reason = "the list shows no dataset id, so no spec could be paired with it"
            skipped.append(SkippedJob(job.provider, job.remote_id, None, reason))
        else:
            by_dataset[job.dataset_ref].append(job)
    for group in by_dataset.values():
        newest = max(group, key=lambda j: (j.health.is_live, j.age_key))
        name = name_for(newest.remote_id)
        named.extend(replace(job, name=name) for job in group)
    return named, skipped


def select_jobs(
    observation: ProviderObservation,
    match: re.Pattern[str] | None,
    managed: Sequence[FineTuneSpec] = (),
    owner: str | None = None,
) -> Selection:
    """The jobs of ``observation`` to import: per name the newest live job (as the diff pairs
    it), names matching ``match`` (searched anywhere in the name) only, none of another
    repository (an owner id other than ``owner``), and none that a spec in ``managed`` (the
    repository's specs) already manages."""
    own = [spec for spec in managed if spec.provider == observation.provider]
    named, skipped = _named_jobs(observation, own, owner)
    spec_of = {spec.name: spec for spec in own}
    by_name: dict[str, list[ObservedJob]] = defaultdict(list)
    already_managed = 0
    for job in named:
        assert job.name is not None
        spec = spec_of.get(job.name)
        if spec is None:
            by_name[job.name].append(job)
        elif (
            job.owner is not None  # this repository's: another owner's were skipped already
            or job.remote_id in spec.adopt
            or (spec.dataset.kind is DatasetKind.ID and job.dataset_ref == spec.dataset.value)
        ):
            already_managed += 1
        elif job.health.is_live:
            reason = (
                f"the spec {display_path(spec.source.file)} has its name but does not adopt it;"
                f" add `adopt: [{job.remote_id}]` to that spec if this is its job"
            )
            skipped.append(SkippedJob(job.provider, job.remote_id, job.name, reason))
    specs: list[ImportedSpec] = []
    unmatched = 0
    for name in sorted(by_name):
        group = sorted(by_name[name], key=lambda j: j.age_key)
        if match is not None and match.search(name) is None:
            unmatched += len(group)
            continue
        live = [job for job in group if job.health.is_live]
        current = live[-1] if live else None
        for job in group:
            if job is current:
                continue
            if not job.health.is_live:
                reason = f"{job.raw_status or 'gone'}: deleted or cancelled jobs are not imported"
            else:
                newest = current.remote_id if current else "?"
                reason = (
                    f"an older job of this name; the newest ({newest}) is imported and this one"
                    " stays its history"
                )
            skipped.append(SkippedJob(job.provider, job.remote_id, name, reason))
        if current is None:
            continue
        made = spec_document(current)
        if isinstance(made, SkippedJob):
            skipped.append(made)
        else:
            specs.append(made)
    return Selection(tuple(specs), tuple(skipped), unmatched, already_managed)


# --- 2. One job -> one document -------------------------------------------------------------


def spec_document(job: ObservedJob) -> ImportedSpec | SkippedJob:
    """The spec fields that adopt ``job``, exactly as its list shows them, or why none can.

    ``job.name`` must be set (``select_jobs`` names Qubrid jobs)."""
    name = job.name or ""

    def skip(reason: str) -> SkippedJob:
        return SkippedJob(job.provider, job.remote_id, job.name, reason)

    profile = PROFILES[job.provider]
    limit = profile.max_name_length
    if not is_valid_name(name) or len(name) > limit:
        return skip(
            f"its name `{name}` is not a valid {job.provider} spec name (1–{limit} lower-case"
            " letters and digits in runs joined by single hyphens), and a spec pairs with a"
            " job by its exact name; rename the job on the provider, or leave it unmanaged"
        )
    if not job.dataset_ref:
        return skip("the list shows no dataset for it")
    imported = profile.import_fields(job)
    if isinstance(imported, NotImportable):
        return skip(imported.reason)
    document: dict[str, Any] = {
        "apiVersion": "reconciler/v1",
        "kind": "FineTune",
        "name": name,
        "provider": job.provider,
    }
    if job.owner is None:
        # Made before the repository had an owner, or outside reconcile: adopting it is said.
        document["adopt"] = [job.remote_id]
    document.update(imported.fields)
    _add_parameters(document, imported.parameters)
    return _imported(job, document, imported.notes)


def _add_parameters(document: dict[str, Any], parameters: Mapping[str, Any] | None) -> None:
    # Sorted: a provider's JSON key order is no promise, and a re-import should diff cleanly.
    given = parameters or {}
    kept = {key: given[key] for key in sorted(given) if given[key] is not None}
    if kept:
        document["parameters"] = kept


def _imported(job: ObservedJob, document: dict[str, Any], notes: tuple[str, ...]) -> ImportedSpec:
    ordered = {key: document[key] for key in FIELD_ORDER if key in document}
    return ImportedSpec(
        provider=job.provider,
        name=job.name or "",
        remote_id=job.remote_id,
        raw_status=job.raw_status,
        document=ordered,
        notes=notes,
    )


# --- 3. Rendering, checking, writing ----------------------------------------------------------


class _SpecDumper(yaml.SafeDumper):
    """Safe YAML whose text the spec reader reads back as the same values.

    The reader takes ``1e-5`` as a number (YAML 1.2, like JSON); PyYAML's resolver does not
    and would leave such a string unquoted, so those strings are quoted here.
    """


_NUMBER_LIKE = re.compile(r"[-+]?(?:\d[\d_]*)?\.?\d*(?:[eE][-+]?\d+)?")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if not value.isprintable():
        # Escaped in double quotes: written raw, NEL or a line separator would read back as a
        # line break.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if value and _NUMBER_LIKE.fullmatch(value) and any(c.isdigit() for c in value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_SpecDumper.add_representer(str, _represent_str)


def schema_modeline(out_dir: Path, root: Path) -> str:
    """The yaml-language-server modeline of a spec in ``out_dir``: the schema's path relative
    to it, with forward slashes."""
    schema = (root / SCHEMA_FILE).resolve()
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
    from reconciler.specs.finetune import header_diagnostics, parse_finetune
    from reconciler.yamlio.yaml_source import parse_yaml_text

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
    from reconciler.yamlio.yaml_source import parse_yaml_text

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


# --- Composition ----------------------------------------------------------------------------


ObserveFn = Callable[[Provider, Settings], ProviderObservation]


def observe_provider(provider: Provider, settings: Settings) -> ProviderObservation:
    """One provider's list through its adapter (the same requests a plan makes)."""
    from reconciler.engine import default_client_factory
    from reconciler.observing import observe

    client = default_client_factory(provider, settings)
    try:
        return observe(client)
    finally:
        client.close()


def compile_match(match: str | None) -> re.Pattern[str] | None:
    """``--match`` as a regular expression, or ``ImportRefusedError`` saying what is wrong."""
    if match is None:
        return None
    try:
        return re.compile(match)
    except re.error as error:
        raise ImportRefusedError(
            f"--match {match!r} is not a valid regular expression ({error});"
            " e.g. --match '^mascot-'"
        ) from None


def managed_specs(settings: Settings) -> list[FineTuneSpec]:
    """The specs under the repository's spec paths (those that exist): the jobs they name are
    managed already and are not imported again. ``InvalidInputError`` if any is invalid."""
    from reconciler.specs import load_specs

    paths = [path for path in settings.spec_paths if path.exists()]
    return load_specs(paths, settings=settings, check_datasets=False) if paths else []


def provider_named(name: str) -> Provider:
    """``name`` as a ``Provider``, or ``ImportRefusedError`` listing the known ones."""
    for provider in PROVIDERS:
        if provider == name:
            return provider
    raise ImportRefusedError(f"unknown provider {name!r}; use one of {', '.join(PROVIDERS)}")


def import_jobs(
    provider_name: str,
    *,
    out_dir: Path = DEFAULT_OUT_DIR,
    match: str | None = None,
    use_sandbox: bool = False,
    observe: ObserveFn = observe_provider,
) -> ImportReport:
    """Observe provider ``provider_name`` and write a spec per job into ``out_dir``.

    Raises ``ImportRefusedError`` (nothing written) for an unknown provider, a bad ``match``,
    a list that could not be read, or files in the way; ``InvalidInputError`` for a bad
    ``reconciler.yaml``.
    """
    import contextlib

    from reconciler.config import find_repo_root, load_settings
    from reconciler.engine import sandbox_settings

    provider = provider_named(provider_name)
    pattern = compile_match(match)
    settings = load_settings(find_repo_root([out_dir]))
    # Read before any request: an invalid spec stops the import here.
    managed = managed_specs(settings)
    with contextlib.ExitStack() as stack:
        if use_sandbox:
            settings = stack.enter_context(sandbox_settings(settings))
        observation = observe(provider, settings)
    if not observation.complete:
        raise ImportRefusedError(
            f"{provider} could not be read ({observation.error or 'unknown error'}); nothing was"
            " written"
        )
    selection = select_jobs(observation, pattern, managed, settings.owner)
    files, invalid = prepare_files(selection.specs, out_dir, settings)
    write_files(files)
    return ImportReport(
        provider=provider,
        out_dir=out_dir,
        written=tuple(files),
        skipped=selection.skipped + tuple(invalid),
        unmatched=selection.unmatched,
        managed=selection.managed,
        match=match,
    )
