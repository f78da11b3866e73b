"""The validation cache: specs and dataset checks that passed, remembered under ``.reconcile/``.

Validating a thousand specs means parsing a thousand YAML files, checking each against the
JSON Schema and reading every dataset; none of that changes while the files do not. This
module remembers what passed, in one file (``<root>/.reconcile/validated.json``):

- per spec file (by real path): its stat (size, mtime_ns, inode, ctime_ns), the sha256 of its
  bytes, and the specs it yielded, with the positions the cross-file checks report at. A file
  with any problem is never remembered, so its diagnostics are always produced afresh;
- per dataset check (provider, dataset, check options): the signature of the dataset's
  listing (every file's name and stat, and what the listing left out) when the check passed;
- per dataset: its content fingerprint and upload size, with the listing signature they
  were computed for (the per-file digests stay in ``datasets.stat_cache``; this saves reading
  one cache file per dataset on every run).

Everything a result depends on besides those files is folded into one *context* hash, and a
cache made in another context is ignored whole: this package's version and the source of the
modules that decide validity, the JSON Schema, the repository root, ``reconciler.yaml``'s
bytes and the settings specs take defaults from (the environment can change those).

A stat match is trusted only for files that were already older than
``stat_cache.RACY_WINDOW_NS`` when remembered (a write within the same timestamp tick could
otherwise go unseen); a younger spec file is read and compared by content hash, and a
younger dataset is checked again. Where a spec names a local dataset, the path is resolved
again on every run (``dataset_paths``) and must lead to the same place.

The cache is an optimisation, never a source of truth, and the repository is untrusted input:
the file is sealed with this machine's key (``stat_cache.seal``: an HMAC-SHA256 kept outside
the repository), so a file this machine did not write (a committed one, one from another
machine, one edited by hand) is ignored whole, as are a missing, unreadable, corrupt or
foreign one; a failed write is dropped. A ``.reconcile`` that is a symlink, or that git
tracks (a commit put it there), is not used at all, with a warning (``state_folder_warning``).
Writes go to a temporary file and then ``os.replace``, so a reader sees the old file or the
new one. ``state_dir`` is that folder as every run uses it, checked the same way (the
fingerprint caches, the local writer lease and the ``--sandbox`` state live there too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mmap
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import Any

from reconciler import __version__
from reconciler.config import Settings
from reconciler.core.diagnostics import Diagnostic, InvalidInputError
from reconciler.core.spec import DatasetKind, DatasetRef, FineTuneSpec, Lifecycle, SourceLocation
from reconciler.datasets import stat_cache
from reconciler.datasets.files import DatasetListing, list_dataset
from reconciler.specs.dataset_paths import lexical_display
from reconciler.specs.notes import warn_once

CACHE_DIR_NAME = stat_cache.STATE_DIR_NAME
CACHE_FILE_NAME = "validated.json"
_FORMAT = 2  # 2: sealed
_SEAL_PURPOSE = b"validated"
_PACKAGE = Path(__file__).resolve().parents[1]
# The modules whose code decides whether a spec or a dataset is valid, and what a spec holds.
_CODE = (
    "specs/*.py",
    "yamlio/*.py",
    "datasets/*.py",
    "naming.py",
    "core/*.py",
    "config.py",
    # The providers' profiles (dataset kinds, spec fields) and dataset checks.
    "providers/profile*.py",
    "providers/dataset_checks.py",
    "providers/*/profile.py",
    "providers/*/checks.py",
)
_SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(FineTuneSpec))
_SPEC_FIELD_SET = frozenset(_SPEC_FIELDS)
_DATASET_KINDS = {kind.value: kind for kind in DatasetKind}

Position = tuple[int, int]


@dataclass(frozen=True)
class CachedSpec:
    """One spec as remembered: the spec (its ``source.file`` is filled in by the reader, who
    knows how the file is shown), where its name and dataset are written, and the dataset
    path as written (``None`` for ``{url:}``/``{id:}``), which is resolved again on use."""

    spec: FineTuneSpec
    name_at: Position
    dataset_at: Position
    raw_dataset: str | None


def cache_context(settings: Settings, schema_file: Path) -> str:
    """The hash of everything besides the spec and dataset files that validation depends on."""
    digest = hashlib.sha256(f"{_FORMAT} {__version__}\n".encode())
    for pattern in _CODE:
        for source in sorted(_PACKAGE.glob(pattern)):
            digest.update(f"{source.relative_to(_PACKAGE)}\n".encode())
            digest.update(_read_or_empty(source))
    digest.update(b"schema\n" + _read_or_empty(schema_file))
    config = _read_or_empty(settings.config_file) if settings.config_file else b""
    spec_inputs = [
        str(settings.root),
        hashlib.sha256(config).hexdigest(),
        # Each provider's options, which its profile may fill a spec's fields from: not only
        # reconciler.yaml's (hashed above), since sandbox_settings rescales them to its clock.
        {name: dataclasses.asdict(own.options) for name, own in settings.providers.items()},
    ]
    digest.update(json.dumps(spec_inputs, sort_keys=True).encode())
    return digest.hexdigest()


# The state folder ---------------------------------------------------------------------------


def state_folder_problem(folder: Path) -> Diagnostic | None:
    """Why the state folder ``folder`` (``<root>/.reconcile``) cannot be used, or None; it is
    made here when missing (``stat_cache.make_folder``: with its ``.gitignore``). A symlink
    (it, or a folder in it) is refused: a commit can hold one, and nothing may be written
    through it to wherever it points; so is a file where the folder should be."""
    linked = stat_cache.linked_state_folder(folder)
    if linked is not None:
        return Diagnostic(
            lexical_display(linked),
            1,
            1,
            "",
            "is a symlink; reconcile keeps this machine's caches and state in a folder of its"
            " own there and never writes through a link: delete the link (if it is committed,"
            " `git rm` it)",
        )
    try:
        stat_cache.make_folder(folder)
    except FileExistsError:
        return Diagnostic(
            lexical_display(folder),
            1,
            1,
            "",
            "is not a folder; reconcile keeps this machine's caches and state in a folder"
            " there: delete the file (if it is committed, `git rm` it)",
        )
    except OSError:
        return None  # a read-only checkout: caches are not written, writers say why
    return None


def state_dir(settings: Settings) -> Path:
    """``<root>/.reconcile`` (or ``settings.state_dir``): fingerprint caches, the local
    writer lease, ``--sandbox`` state; made when missing, with a ``.gitignore`` of ``*``.
    Raises ``InvalidInputError`` when it is a symlink (a commit can hold one: nothing is
    written through it) or a file (``state_folder_problem``)."""
    folder = settings.state_dir or settings.root / CACHE_DIR_NAME
    problem = state_folder_problem(folder)
    if problem is not None:
        raise InvalidInputError([problem])
    return folder


def state_folder_warning(folder: Path) -> str | None:
    """Why the caches in ``folder`` are not used, or None when they may be: a symlink
    (``state_folder_problem``), or a folder git tracks: what a commit put there is the
    author's, not this machine's (their seal would fail too, see ``stat_cache.seal``)."""
    problem = state_folder_problem(folder)
    if problem is not None:
        return f"{problem.file} {problem.message}; the validation cache is not used"
    if tracked_by_git(folder):
        return (
            f"{lexical_display(_state_anchor(folder))} is tracked by git (it was committed, or git"
            " could not tell); it holds this machine's caches, never a commit's, so they are"
            " not used: untrack it with `git rm -r --cached` and commit that"
        )
    return None


def _state_anchor(folder: Path) -> Path:
    """The ``.reconcile`` folder ``folder`` is in (``folder`` itself when none)."""
    for current in (folder, *folder.parents):
        if current.name == CACHE_DIR_NAME:
            return current
    return folder


def tracked_by_git(folder: Path) -> bool:
    """Whether git tracks anything at the state folder ``folder`` (its ``.reconcile``).

    Asking git costs a process (milliseconds) on every run, so the index is looked at first:
    a tracked ``.reconcile/x`` is written there as its path, ``reconcile/`` at least (an
    index of version 4 may share the leading ``.`` with the entry before), or ``reconcile``
    and a NUL for a tracked link or file. Only when such bytes occur does git say for sure
    (``reconciler/``, a package of that name, does not match).
    """
    anchor = _state_anchor(folder)
    index = _git_index(anchor.parent)
    if index is None:
        return False
    name = anchor.name.lstrip(".").encode()
    try:
        with (
            index.open("rb") as stream,
            mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            if data.find(name + b"/") < 0 and data.find(name + b"\0") < 0:
                return False
    except (OSError, ValueError):  # ValueError: an empty index, which tracks nothing
        return False
    return _git_lists(anchor)


def _git_index(folder: Path) -> Path | None:
    """The index file of the git work tree ``folder`` is in, or None outside one."""
    for current in (folder, *folder.parents):
        dot_git = current / ".git"
        try:
            mode = os.lstat(dot_git).st_mode
        except OSError:
            continue
        if S_ISDIR(mode):
            return dot_git / "index"
        if S_ISREG(mode):  # a linked work tree or a submodule: "gitdir: <path>"
            text = _read_or_empty(dot_git).decode("utf-8", "replace").strip()
            if text.startswith("gitdir:"):
                return current / text.removeprefix("gitdir:").strip() / "index"
        return None
    return None


def _git_lists(anchor: Path) -> bool:
    """Whether ``git ls-files`` lists anything at ``anchor``; True when git cannot say."""
    import subprocess  # only when the index names a `.reconcile`

    try:
        listed = subprocess.run(  # noqa: S603 (fixed arguments, no shell)
            ["git", "ls-files", "-z", "--", anchor.name],  # noqa: S607 (git from PATH)
            cwd=anchor.parent,
            capture_output=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return True
    return bool(listed.stdout)


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_ctime_ns]


def is_settled(newest_change_ns: int, read_started_ns: int) -> bool:
    """Whether a file last changed at ``newest_change_ns`` can be trusted by stat alone."""
    return newest_change_ns < read_started_ns - stat_cache.RACY_WINDOW_NS


def listing_signature(listing: DatasetListing) -> str:
    """A hash of a dataset's listing: every file's name and stat, and everything left out."""
    parts: list[Any] = [listing.is_folder, listing.folders, listing.links, listing.special]
    parts.append(listing.undecodable)
    parts.extend([f.name, f.size, f.mtime_ns, f.inode, f.ctime_ns] for f in listing.files)
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def listing_settled(listing: DatasetListing, started_ns: int) -> bool:
    newest = max((max(f.mtime_ns, f.ctime_ns) for f in listing.files), default=0)
    return is_settled(newest, started_ns)


class ValidationCache:
    """The remembered results for one repository in one context (see the module docstring)."""

    def __init__(self, file: Path, context: str) -> None:
        self._file = file
        self._context = context
        self._files: dict[str, Any] = {}
        self._datasets: dict[str, str] = {}
        self._fingerprints: dict[str, Any] = {}
        self._listings: dict[Path, DatasetListing] = {}
        self._signatures: dict[Path, tuple[DatasetListing, str]] = {}
        self._changed = False
        self._load()

    @classmethod
    def for_settings(cls, settings: Settings, schema_file: Path) -> ValidationCache | None:
        """The cache of ``settings``' repository, or None when its state folder must not be
        used (``state_folder_warning``; the warning is given once per process)."""
        own = settings.root / CACHE_DIR_NAME
        state = settings.state_dir or own
        warning = state_folder_warning(state)
        if warning is not None:
            warn_once(warning)
            return None
        file = state / CACHE_FILE_NAME
        if state != own:
            # A tree read from elsewhere than its state folder (the daemon's snapshot of a
            # commit) keeps a file of its own: the context names the root, and one shared file
            # would be thrown away at every switch between the checkout and the snapshot.
            tree = hashlib.sha256(str(settings.root).encode()).hexdigest()[:12]
            file = state / f"validated-{tree}.json"
        return cls(file, cache_context(settings, schema_file))

    def _load(self) -> None:
        document = stat_cache.read_sealed_json(_SEAL_PURPOSE, self._file)
        if (
            isinstance(document, dict)
            and document.get("format") == _FORMAT
            and document.get("context") == self._context
            and isinstance(document.get("files"), dict)
            and isinstance(document.get("datasets"), dict)
            and isinstance(document.get("fingerprints"), dict)
        ):
            self._files = document["files"]
            self._datasets = document["datasets"]
            self._fingerprints = document["fingerprints"]

    # Spec files ---------------------------------------------------------------------------

    def trusted_by_stat(self, real_file: str, stat: os.stat_result) -> bool:
        """Whether ``real_file``'s remembered specs hold without reading it."""
        entry = self._files.get(real_file)
        return (
            isinstance(entry, dict)
            and entry.get("settled") is True
            and entry.get("stat") == stat_key(stat)
        )

    def has_content(self, real_file: str, sha256: str) -> bool:
        entry = self._files.get(real_file)
        return isinstance(entry, dict) and entry.get("sha256") == sha256

    def specs_of(self, real_file: str, file: Path) -> list[CachedSpec] | None:
        """The remembered specs of ``real_file`` (shown as ``file``); None if unreadable."""
        entry = self._files.get(real_file)
        try:
            return [_decode(record, file) for record in entry["specs"]]  # type: ignore[index]
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def remember_file(
        self,
        real_file: str,
        stat: os.stat_result,
        sha256: str,
        settled: bool,
        specs: Sequence[CachedSpec],
    ) -> None:
        """Remember the specs a file without problems yielded. Specs that would not come back
        exactly, or that hold a URL's query (where signatures live), are not remembered."""
        records = []
        for cached in specs:
            dataset = cached.spec.dataset
            if dataset.kind is DatasetKind.URL and ("?" in dataset.value or "#" in dataset.value):
                return
            record = _encode(cached)
            if json.loads(json.dumps(record)) != record:
                return
            if _decode(record, cached.spec.source.file) != cached:
                return
            records.append(record)
        entry = {"stat": stat_key(stat), "sha256": sha256, "settled": settled, "specs": records}
        if self._files.get(real_file) != entry:
            self._files[real_file] = entry
            self._changed = True

    def forget_file(self, real_file: str) -> None:
        if self._files.pop(real_file, None) is not None:
            self._changed = True

    # Datasets -----------------------------------------------------------------------------

    def listing(self, path: Path) -> DatasetListing:
        """``list_dataset(path)``, listed once for the life of this object (one load): the
        dataset checks and the fingerprints then look at the same listing. Raises
        ``DatasetError``."""
        known = self._listings.get(path)
        if known is None:
            known = self._listings[path] = list_dataset(path)
        return known

    def dataset_passed(self, check: Sequence[object], listing: DatasetListing) -> bool:
        """Whether the dataset ``check`` names passed it with exactly this listing."""
        return self._datasets.get(_check_key(check)) == self._signature(listing)

    def remember_dataset(self, check: Sequence[object], listing: DatasetListing) -> None:
        key, signature = _check_key(check), self._signature(listing)
        if self._datasets.get(key) != signature:
            self._datasets[key] = signature
            self._changed = True

    def fingerprint_of(self, listing: DatasetListing) -> tuple[str, int] | None:
        """The (sha256, upload size) remembered for exactly this listing of a dataset."""
        entry = self._fingerprints.get(str(listing.root))
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[0] == self._signature(listing)
            and isinstance(entry[1], str)
            and isinstance(entry[2], int)
        ):
            return entry[1], entry[2]
        return None

    def remember_fingerprint(self, listing: DatasetListing, sha256: str, size: int) -> None:
        entry = [self._signature(listing), sha256, size]
        if self._fingerprints.get(str(listing.root)) != entry:
            self._fingerprints[str(listing.root)] = entry
            self._changed = True

    def _signature(self, listing: DatasetListing) -> str:
        """``listing_signature(listing)``, worked out once per listing: the dataset checks
        and the fingerprints look at the same listing (``listing``)."""
        known = self._signatures.get(listing.root)
        if known is not None and known[0] is listing:
            return known[1]
        signature = listing_signature(listing)
        self._signatures[listing.root] = (listing, signature)
        return signature

    # Writing ------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the cache if anything changed; a cache that cannot be written is no error."""
        if not self._changed:
            return
        document = {
            "format": _FORMAT,
            "context": self._context,
            "files": self._files,
            "datasets": self._datasets,
            "fingerprints": self._fingerprints,
        }
        sealed = stat_cache.seal(
            _SEAL_PURPOSE, json.dumps(document, separators=(",", ":")).encode()
        )
        if sealed is not None:
            stat_cache.write_cache_file(self._file, sealed)
        self._changed = False


def _check_key(check: Sequence[object]) -> str:
    return json.dumps(list(check))


def _encode(cached: CachedSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for name in _SPEC_FIELDS:
        value = getattr(cached.spec, name)
        if isinstance(value, DatasetRef):
            value = [value.kind.value, value.value]
        elif isinstance(value, SourceLocation):
            value = [value.line, value.col]
        elif isinstance(value, Lifecycle):
            value = [value.allow_replace, value.prevent_destroy]
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        spec[name] = value
    return {
        "spec": spec,
        "name_at": list(cached.name_at),
        "dataset_at": list(cached.dataset_at),
        "raw_dataset": cached.raw_dataset,
    }


def _decode(record: Mapping[str, Any], file: Path) -> CachedSpec:
    fields = dict(record["spec"])
    if fields.keys() != _SPEC_FIELD_SET:
        raise ValueError("the remembered spec has other fields than FineTuneSpec")
    kind, value = fields["dataset"]
    fields["dataset"] = DatasetRef(_DATASET_KINDS[kind], value)
    line, col = fields["source"]
    fields["source"] = SourceLocation(file, line, col)
    fields["set_fields"] = frozenset(fields["set_fields"])
    if fields["csv_columns"] is not None:
        fields["csv_columns"] = tuple(fields["csv_columns"])
    fields["adopt"] = tuple(fields["adopt"])
    allow_replace, prevent_destroy = fields["lifecycle"]
    fields["lifecycle"] = Lifecycle(bool(allow_replace), bool(prevent_destroy))
    raw = record["raw_dataset"]
    name_line, name_col = record["name_at"]
    dataset_line, dataset_col = record["dataset_at"]
    return CachedSpec(
        spec=FineTuneSpec(**fields),
        name_at=(int(name_line), int(name_col)),
        dataset_at=(int(dataset_line), int(dataset_col)),
        raw_dataset=raw if isinstance(raw, str) else None,
    )
