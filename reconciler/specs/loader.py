"""Loading every spec under the given paths: discovery, per-document checks, cross-file checks.

This module owns the order of validation. Every file is read and checked, every problem of
every file is collected, and only then is one ``InvalidInputError`` raised: a person fixes
all their specs in one pass, and no change is sent anywhere while any spec is wrong. The
cross-file checks live here too: duplicate ``(provider, name)`` pairs, and dataset content
checks (run once per dataset even when several specs share it).

What passed is remembered in the validation cache (``cache``), so an unchanged file is
neither parsed nor checked against the schema again, and an unchanged dataset is not read
again; YAML and JSON Schema libraries are imported only when some file must be parsed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.config import CONFIG_FILE_NAME, Settings, find_repo_root, read_settings
from reconciler.core.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.core.spec import FineTuneSpec
from reconciler.datasets.files import DatasetError, list_dataset
from reconciler.datasets.problems import DatasetProblem
from reconciler.specs.cache import (
    CachedSpec,
    ValidationCache,
    is_settled,
    listing_settled,
)
from reconciler.specs.dataset_paths import (
    RealPaths,
    display_of,
    in_tooling_folder,
    is_inside,
    lexical_display,
    resolve_dataset_path,
)
from reconciler.specs.notes import note
from reconciler.yamlio.schema_files import FINETUNE_SCHEMA, schema_path
from reconciler.yamlio.text_file import (
    SourceBytes,
    not_a_regular_file,
    read_source,
    special_kind,
)

SPEC_SUFFIXES = (".yaml", ".yml")  # compared in lower case


@dataclass(frozen=True)
class LoadedSpec:
    """A valid spec with the places the cross-file checks report at: the file as shown,
    and where its ``name`` and ``dataset`` values are written; and the dataset path as
    written (``None`` for ``{url:}``/``{id:}``), which the cache resolves again."""

    spec: FineTuneSpec
    file: str
    name_at: tuple[int, int]
    dataset_at: tuple[int, int]
    raw_dataset: str | None

    def at_name(self, message: str) -> Diagnostic:
        return Diagnostic(self.file, *self.name_at, "name", message)

    def at_dataset(self, message: str) -> Diagnostic:
        return Diagnostic(self.file, *self.dataset_at, "dataset", message)


@dataclass
class _Load:
    """What one ``load_specs`` call shares across files."""

    settings: Settings
    cache: ValidationCache | None
    real_paths: RealPaths
    cwd: str  # real


def load_specs(
    paths: Sequence[Path],
    *,
    settings: Settings | None = None,
    check_datasets: bool = True,
    use_cache: bool = True,
    cache: ValidationCache | None = None,
) -> list[FineTuneSpec]:
    """Every ``FineTune`` spec under ``paths``, in file order, or ``InvalidInputError``.

    ``paths`` are spec files or folders searched recursively for ``*.yaml``/``*.yml`` (any
    case), all inside the repository (``find_spec_files``); when empty,
    ``settings.spec_paths`` (``reconciler.yaml``'s ``spec_paths``, default ``specs/``).
    Without ``settings``, the repository root is found from the first path (see
    ``reconciler.config.find_repo_root``) and its ``reconciler.yaml`` is read; its problems
    are reported with the specs'. ``check_datasets`` runs the dataset content checks.
    ``use_cache`` reads and updates the validation cache under ``<root>/.reconcile/``
    (``cache``, when given, is the one to use: a caller that goes on to fingerprint the
    datasets shares it).
    """
    problems: list[Diagnostic] = []
    if settings is None:
        settings, problems = read_settings(find_repo_root(paths))
    real_paths = RealPaths()
    if problems or not use_cache:
        cache = None
    elif cache is None:
        cache = open_validation_cache(settings)
    load = _Load(settings, cache, real_paths, real_paths.real_str(Path.cwd()))
    files, found = find_spec_files(
        list(paths) or list(settings.spec_paths), real_paths, root=settings.root
    )
    problems.extend(found)
    loaded: list[LoadedSpec] = []
    for file in files:
        specs, found = _load_file(file, load)
        loaded.extend(specs)
        problems.extend(found)
    problems.extend(_duplicates(loaded))
    if check_datasets:
        problems.extend(_dataset_content_problems(loaded, cache))
    if cache is not None:
        cache.save()
    if problems:
        raise InvalidInputError(problems)
    return [item.spec for item in loaded]


def open_validation_cache(settings: Settings) -> ValidationCache | None:
    """The validation cache of ``settings.root`` (see ``reconciler.specs.cache``)."""
    try:
        schema = schema_path(FINETUNE_SCHEMA)
    except FileNotFoundError:
        return None  # reported by the first parse, which needs the schema
    return ValidationCache.for_settings(settings, schema)


def find_spec_files(
    paths: Sequence[Path], real_paths: RealPaths | None = None, *, root: Path | None = None
) -> tuple[list[Path], list[Diagnostic]]:
    """The spec files under ``paths``, sorted per path, each once, and the problems of the
    paths; what a folder search skipped that may have been meant is a note (``notes``).

    Every path must lead, symlinks followed, to a place inside the repository ``root``
    (default: ``find_repo_root(paths)``) and outside its ``.git`` and ``.reconcile``: a
    repository's ``reconciler.yaml`` names the paths, and nothing outside may be read (nor
    its content quoted in an error). A path named explicitly that is not a file or a folder
    (a FIFO, a device) is refused by name. A file named explicitly is taken whatever its
    extension; a folder is searched recursively (``_walk``) for ``*.yaml`` and ``*.yml``,
    in any case. ``reconciler.yaml`` is never a spec, so a search from the root skips it.
    """
    resolver = real_paths or RealPaths()
    top = resolver.real_str(root if root is not None else find_repo_root(paths))
    files: list[Path] = []
    problems: list[Diagnostic] = []
    skipped: list[str] = []
    seen: set[str] = set()

    def add(file: Path) -> None:
        key = resolver.real_str(file)
        if key not in seen:
            seen.add(key)
            files.append(file)

    for path in paths:
        display = display_path(path)
        real = resolver.real_str(path)
        misplaced = _misplaced(real, top)
        if misplaced is not None:
            problems.append(Diagnostic(display, 1, 1, "", f"{misplaced}; {_INSIDE_ONLY}"))
            continue
        try:
            mode = os.stat(path).st_mode  # noqa: PTH116 (as RealPaths, on strings)
        except FileNotFoundError:
            problems.append(
                Diagnostic(
                    display, 1, 1, "", "no such file or folder; give spec files or folders of specs"
                )
            )
            continue
        except OSError as error:
            problems.append(Diagnostic(display, 1, 1, "", f"cannot read it: {error.strerror}"))
            continue
        if stat.S_ISREG(mode):
            add(path)
            continue
        if not stat.S_ISDIR(mode):
            problems.append(not_a_regular_file(display, mode))
            continue
        found, unlisted = _walk(path, real, top, resolver, skipped)
        if unlisted is not None:
            problems.append(
                Diagnostic(display, 1, 1, "", f"cannot list the folder: {unlisted.strerror}")
            )
        elif not found:
            problems.append(
                Diagnostic(
                    display,
                    1,
                    1,
                    "",
                    "no *.yaml or *.yml spec files in this folder; give the folder that"
                    " holds the specs",
                )
            )
        for file in found:
            add(file)
    for message in sorted(set(skipped)):
        note(message)
    return files, problems


_INSIDE_ONLY = (
    "spec files and folders must be inside the repository (symlinks may lead only to places"
    " inside it), and never in .git/ or .reconcile/"
)


def _misplaced(real: str, top: str) -> str | None:
    """Why the real path ``real`` may not be read in the repository whose real root is
    ``top``, or None when it may."""
    if not is_inside(real, top):
        return "leads outside the repository"
    if in_tooling_folder(real, top):
        return "leads into .git/ or .reconcile/"
    return None


def is_spec_name(name: str) -> bool:
    """Whether a folder search takes a file named ``name``: ``*.yaml`` or ``*.yml`` in any
    case (``.YAML`` is common on Windows), neither hidden nor ``reconciler.yaml``."""
    lowered = name.lower()
    return (
        lowered.endswith(SPEC_SUFFIXES) and not name.startswith(".") and lowered != CONFIG_FILE_NAME
    )


def _walk(
    folder: Path, real_folder: str, top: str, resolver: RealPaths, skipped: list[str]
) -> tuple[list[Path], OSError | None]:
    """The spec files under ``folder`` (whose real path is ``real_folder``), in ``Path``
    order (component by component), and the error when ``folder`` itself cannot be listed.

    Hidden entries are skipped silently (tooling: .git, .reconcile, .github). A symlink is
    followed when it leads inside the repository (a folder once per real folder, so a loop
    ends), and a spec-named file is taken when it is a regular file; each thing a search
    passes over that may have held specs (a link leading outside, a FIFO named ``*.yaml``, a
    sub-folder that cannot be listed) adds a line to ``skipped``, by name only. The real path
    of every file found is told to ``resolver``: the listing shows it, a system call saved
    each.
    """
    found: list[tuple[str, str]] = []  # (path, real path)
    visited = {real_folder}
    pending = [(os.fspath(folder), real_folder)]
    while pending:
        directory, real_directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as error:
            if directory == os.fspath(folder):
                return [], error
            skipped.append(
                f"{lexical_display(directory)}: not searched for specs: cannot list the folder"
            )
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_link = entry.is_symlink()
                is_folder = not is_link and entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_folder:
                real = os.path.join(real_directory, name)  # noqa: PTH118 (strings)
                if real not in visited:  # met before through a symlink
                    visited.add(real)
                    pending.append((entry.path, real))
                continue
            if is_link:
                _follow(entry.path, name, top, resolver, visited, pending, found, skipped)
                continue
            if not is_spec_name(name):
                continue
            try:
                # The listing says which entries are regular files: no system call for them.
                if entry.is_file(follow_symlinks=False):
                    found.append((entry.path, os.path.join(real_directory, name)))  # noqa: PTH118
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            shown = lexical_display(entry.path)
            skipped.append(f"{shown}: not read: it is {special_kind(mode)}")
    # Sorted as Path objects sort, by component, without building one per comparison.
    found.sort(key=lambda item: item[0].split(os.sep))  # noqa: PTH206 (strings: cheaper)
    files = []
    for path, real in found:
        file = Path(path)
        resolver.remember(file, real)
        files.append(file)
    return files, None


def _follow(
    path: str,
    name: str,
    top: str,
    resolver: RealPaths,
    visited: set[str],
    pending: list[tuple[str, str]],
    found: list[tuple[str, str]],
    skipped: list[str],
) -> None:
    """A symlink met in a folder search (see ``_walk``): a folder to search, a spec file, or
    a line in ``skipped``."""
    spec_named = is_spec_name(name)
    real = resolver.real_str(path)
    try:
        mode = os.stat(path).st_mode  # noqa: PTH116 (strings)
    except OSError:
        if spec_named:
            skipped.append(f"{lexical_display(path)}: not read: a symlink that leads nowhere")
        return
    is_folder = stat.S_ISDIR(mode)
    if not is_folder and not spec_named:
        return
    misplaced = _misplaced(real, top)
    if misplaced is not None:
        what = "a symlinked folder" if is_folder else "a symlink"
        skipped.append(f"{lexical_display(path)}: not read: {what} that {misplaced}")
    elif is_folder:
        if real not in visited:
            visited.add(real)
            pending.append((path, real))
    elif stat.S_ISREG(mode):
        found.append((path, real))
    else:
        skipped.append(f"{lexical_display(path)}: not read: it leads to {special_kind(mode)}")


def _load_file(file: Path, load: _Load) -> tuple[list[LoadedSpec], list[Diagnostic]]:
    """The specs of one file: from the cache when it holds them for these exact bytes and
    their datasets still resolve to the same place, else parsed (and then remembered)."""
    key = load.real_paths.real_str(file)
    display = display_of(key, file, load.cwd)
    cache = load.cache
    source: SourceBytes | None = None
    if cache is not None:
        try:
            trusted = cache.trusted_by_stat(key, file.stat())
        except OSError:
            trusted = False
        if not trusted:
            source, problems = read_source(file, display)
            if source is None:
                return [], problems
            trusted = cache.has_content(key, _sha256(source.data))
        if trusted:
            # The file as shown: most often exactly as it was found.
            shown = file if display == str(file) else Path(display)
            remembered = _from_cache(cache, key, display, shown, load)
            if remembered is not None:
                if source is not None and source.steady:  # same bytes, new stat
                    _remember(cache, key, source, remembered)
                return remembered, []
    if source is None:
        source, problems = read_source(file, display)
        if source is None:
            return [], problems
    loaded, problems = _parse(file, display, source, load)
    if cache is not None:
        if problems or not source.steady:
            cache.forget_file(key)
        else:
            _remember(cache, key, source, loaded)
    return loaded, problems


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_cache(
    cache: ValidationCache, key: str, display: str, shown: Path, load: _Load
) -> list[LoadedSpec] | None:
    """The remembered specs of a file (``display``, and as a path ``shown``), or None when
    they no longer hold: unreadable, or a dataset path that now resolves elsewhere (or not at
    all) must be parsed and reported."""
    remembered = cache.specs_of(key, shown)
    if remembered is None:
        return None
    spec_dir = os.path.dirname(key)  # noqa: PTH120 (strings, as in RealPaths)
    loaded = []
    for cached in remembered:
        spec = cached.spec
        if cached.raw_dataset is not None:
            now = resolve_dataset_path(
                cached.raw_dataset, spec_dir, load.settings.root, spec.provider, load.real_paths
            )
            if now != spec.dataset:
                return None
        elif spec.dataset.is_local:
            return None
        loaded.append(
            LoadedSpec(spec, display, cached.name_at, cached.dataset_at, cached.raw_dataset)
        )
    return loaded


def _remember(
    cache: ValidationCache, key: str, source: SourceBytes, loaded: Sequence[LoadedSpec]
) -> None:
    newest = max(source.stat.st_mtime_ns, source.stat.st_ctime_ns)
    cached = []
    for item in loaded:
        cached.append(CachedSpec(item.spec, item.name_at, item.dataset_at, item.raw_dataset))
    settled = is_settled(newest, source.read_started_ns)
    cache.remember_file(key, source.stat, _sha256(source.data), settled, cached)


def _parse(
    file: Path, display: str, source: SourceBytes, load: _Load
) -> tuple[list[LoadedSpec], list[Diagnostic]]:
    # Imported here: a run served from the cache never loads YAML or JSON Schema.
    from reconciler.specs.finetune import header_diagnostics, parse_finetune
    from reconciler.yamlio.text_file import decode_text
    from reconciler.yamlio.yaml_source import parse_yaml_text

    text, problems = decode_text(source.data, display, allow_empty=False)
    if text is None:
        return [], problems
    documents, problems = parse_yaml_text(text, display, refuse_empty=True)
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
    loaded = []
    for document in documents:
        header = header_diagnostics(document)
        if header:
            problems.extend(header)
            continue
        parsed, found = parse_finetune(document, file, load.settings, load.real_paths)
        problems.extend(found)
        if parsed is not None:
            name_at, dataset_at = document.value_at(("name",)), document.value_at(("dataset",))
            raw = document.value["dataset"]
            loaded.append(
                LoadedSpec(
                    parsed.spec,
                    display,
                    (name_at.line, name_at.col),
                    (dataset_at.line, dataset_at.col),
                    raw if isinstance(raw, str) else None,
                )
            )
    return loaded, problems


def _duplicates(loaded: list[LoadedSpec]) -> list[Diagnostic]:
    by_key: dict[tuple[str, str], list[LoadedSpec]] = {}
    for item in loaded:
        by_key.setdefault(item.spec.key, []).append(item)
    problems = []
    for (provider, name), items in by_key.items():
        if len(items) < 2:
            continue
        for item in items:
            others = ", ".join(
                f"{other.file}:{other.name_at[0]}" for other in items if other is not item
            )
            problems.append(
                item.at_name(
                    f"duplicate job: {provider} `{name}` is also defined at {others};"
                    " names are unique per provider, rename one",
                )
            )
    return problems


def _dataset_content_problems(
    loaded: list[LoadedSpec], cache: ValidationCache | None
) -> list[Diagnostic]:
    users: dict[tuple[object, ...], list[LoadedSpec]] = {}
    for item in loaded:
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
    for check, specs in users.items():
        problems.extend(_dataset_problems(check, specs, cache))
    return problems


def _dataset_problems(
    check: tuple[object, ...], specs: list[LoadedSpec], cache: ValidationCache | None
) -> list[Diagnostic]:
    """The problems of one dataset for one set of check options, each reported where the
    specs that use it name it. A dataset whose listing is unchanged since it passed these
    checks is not read again."""
    spec = specs[0].spec
    started = time.time_ns()
    try:
        before = cache.listing(spec.dataset.path) if cache is not None else None
    except DatasetError:
        before = None  # the check itself says what is wrong
    if before is not None and cache is not None and cache.dataset_passed(check, before):
        return []
    found = _check(spec)
    if not found and before is not None and cache is not None:
        with contextlib.suppress(DatasetError):
            after = list_dataset(spec.dataset.path)
            if after == before and listing_settled(before, started):
                cache.remember_dataset(check, before)
    problems: list[Diagnostic] = []
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
            problems.append(item.at_dataset(where + problem.message))
    return problems


def _check(spec: FineTuneSpec) -> list[DatasetProblem]:
    from reconciler.providers.dataset_checks import check_dataset  # only when a dataset is read

    return check_dataset(
        spec.provider,
        spec.dataset.path,
        task_type=spec.task_type,
        csv_columns=spec.csv_columns,
        dataset_type=spec.dataset_type,
    )


def _users(specs: list[LoadedSpec]) -> str:
    first = specs[0]
    text = f"{first.spec.provider} `{first.spec.name}` in {first.file}"
    if len(specs) > 1:
        text += f" and {len(specs) - 1} other spec{'s' if len(specs) > 2 else ''}"
    return text
