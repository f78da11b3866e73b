"""Where a spec's local dataset path points, and the real paths of files, resolved cheaply.

This module owns the rules for a dataset written as a path: relative to the spec file, inside
the repository (lexically and after symlinks, and not in ``.git`` or ``.reconcile``),
existing, a regular file or a folder (never a FIFO or a device), and of a kind the provider
takes (``ProviderProfile.datasets``).
``resolve_dataset_path`` applies them to the raw text of the field, so that a freshly parsed
spec and one taken from the cache are checked by the same code.

``RealPaths`` gives what ``Path.resolve()`` gives, but remembers the real path of every folder
it has seen during one load, and every answer it gave: a thousand specs in one folder, each
naming a dataset in another, cost one ``lstat`` call each instead of a walk up the whole path
every time, and a spec file found by a folder listing (which shows it is no symlink) none.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.core.diagnostics import display_path
from reconciler.core.spec import DatasetKind, DatasetRef, Provider
from reconciler.providers.profiles import PROFILES
from reconciler.yamlio.text_file import special_kind


class RealPaths:
    """``Path.resolve()`` with the folders it went through and its answers remembered, for
    one load only (the file system and the working directory may change between loads)."""

    # Plain strings inside: in a loop over a thousand specs, building Path objects costs more
    # than the system calls they wrap.

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}
        self._answers: dict[Path | str, str] = {}  # a spec file is asked for more than once
        self._cwd = os.getcwd()  # noqa: PTH109 (see above)

    def real(self, path: Path | str) -> Path:
        """The absolute path of ``path`` with every symlink resolved, as ``Path.resolve()``."""
        return Path(self.real_str(path))

    def real_str(self, path: Path | str) -> str:
        known = self._answers.get(path)
        if known is None:
            known = self._answers[path] = self._real_str(path)
        return known

    def remember(self, path: Path | str, real: str) -> None:
        """Take ``real`` as the real path of ``path``, found another way (a folder listing
        that shows ``path`` is no symlink, in a folder whose real path is known)."""
        self._answers[path] = real

    def absolute(self, path: str) -> str | None:
        """``path`` made absolute and normalised, or None when it holds ``..`` (which climbs
        from a symlink's target, not lexically, so only ``real_str`` may resolve it)."""
        absolute = os.path.join(self._cwd, path)  # noqa: PTH118 (see above)
        if ".." in absolute.split(os.sep):  # noqa: PTH206 (see above)
            return None
        return os.path.normpath(absolute)

    def real_in_folder(self, path: str) -> str:
        """The real path of ``path``, a normalised absolute path that is not a symlink itself
        (the caller has checked): its folder's real path and its name."""
        folder, name = os.path.split(path)
        return os.path.join(self.real_str(folder), name)  # noqa: PTH118 (see above)

    def _real_str(self, path: Path | str) -> str:
        absolute = self.absolute(os.fspath(path))
        if absolute is None:
            # `..` after a symlink climbs from the link's target, not lexically.
            return os.path.realpath(os.path.join(self._cwd, path))  # noqa: PTH118 (see above)
        return self._real(absolute)

    def _real(self, absolute: str) -> str:
        known = self._folders.get(absolute)
        if known is not None:
            return known
        parent, name = os.path.split(absolute)
        if not name:
            return absolute  # the file system root
        try:
            mode = os.lstat(absolute).st_mode
        except OSError:
            return os.path.realpath(absolute)  # missing or unreadable: as resolve() has it
        if stat.S_ISLNK(mode):
            return os.path.realpath(absolute)
        result = os.path.join(self._real(parent), name)  # noqa: PTH118 (see above)
        if stat.S_ISDIR(mode):
            self._folders[absolute] = result
        return result


def is_inside(path: str, folder: str) -> bool:
    """``Path(path).is_relative_to(folder)`` for normalised absolute paths, on strings."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


# Inside the repository, yet never specs nor data: git's own files (a checkout's credentials
# may be in .git/config) and this tool's state.
_TOOLING_FOLDERS = (".git", ".reconcile")


def in_tooling_folder(path: str, folder: str) -> bool:
    """Whether ``path``, a normalised absolute path inside ``folder``, is in (or is) one of
    its ``.git`` or ``.reconcile`` folders, at any depth."""
    inner = path[len(folder.rstrip(os.sep)) :] + os.sep
    return any(f"{os.sep}{name}{os.sep}" in inner for name in _TOOLING_FOLDERS)


def display_of(real: str, written: Path, cwd: str) -> str:
    """``reconciler.core.diagnostics.display_path`` for a path whose real path and the real
    working directory ``cwd`` are known: relative to ``cwd`` when inside it."""
    if real == cwd:
        return "."
    if is_inside(real, cwd):
        return real[len(cwd.rstrip(os.sep)) + 1 :]
    return str(written)


def lexical_display(path: str | Path) -> str:
    """``path`` as a message names a link: relative to the working directory when it is
    written inside it, and named where it is, not where it leads (as ``display_path`` does)."""
    absolute = os.path.abspath(path)  # noqa: PTH100 (strings, as in RealPaths)
    cwd = os.getcwd()  # noqa: PTH109 (as in RealPaths)
    return os.path.relpath(absolute, cwd) if is_inside(absolute, cwd) else absolute


def resolve_dataset_path(
    raw: str, spec_dir: str, root: Path, provider: Provider, real_paths: RealPaths
) -> DatasetRef | str:
    """The dataset ``raw`` names, written in a spec file in the real folder ``spec_dir``, or
    the message saying what is wrong with it. ``root`` is the repository's real path."""
    if os.path.isabs(raw) or raw.startswith("~"):  # noqa: PTH117 (as in RealPaths)
        return (
            f"`{raw}` is an absolute path; write the path relative to the spec file"
            " (e.g. ../datasets/...) so it works on every machine"
        )
    # Lexically first: `..` that climbs out of the repository is wrong whatever exists there.
    lexical = os.path.normpath(os.path.join(spec_dir, raw))  # noqa: PTH118 (as in RealPaths)
    inside = str(root)
    if not is_inside(lexical, inside):
        return (
            f"`{raw}` points outside the repository at {root}; datasets must live inside it"
            " so every machine sees the same files"
        )
    try:
        mode = os.lstat(lexical).st_mode
        if stat.S_ISLNK(mode):
            mode = os.stat(lexical).st_mode  # noqa: PTH116 (as in RealPaths)
            real = real_paths.real_str(lexical)
        else:
            real = real_paths.real_in_folder(lexical)
    except OSError:
        # Where it would be, links followed: a folder on the way may lead outside, and what
        # is there (even the names near it) is not ours to show.
        real = os.path.realpath(lexical)
        if not is_inside(real, inside):
            return _leads_outside(raw, real)
        missing = Path(lexical)
        return f"`{raw}` does not exist (looked for {display_path(missing)}){_near(missing)}"
    if not is_inside(real, inside):
        return _leads_outside(raw, real)
    if in_tooling_folder(real, inside):
        return (
            f"`{raw}` leads into .git/ or .reconcile/, which hold git's files and this tool's"
            " state, never datasets; keep datasets in a folder of their own"
        )
    if not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        return f"`{raw}` is {special_kind(mode)}; a dataset is a regular file or a folder"
    kind = DatasetKind.FOLDER if stat.S_ISDIR(mode) else DatasetKind.FILE
    wrong = PROFILES[provider].datasets.wrong_kind(raw, _suffix(real), kind)
    if wrong:
        return wrong
    return DatasetRef(kind, real)


def _leads_outside(raw: str, real: str) -> str:
    return (
        f"`{raw}` leads through a symlink to {real}, outside the repository; copy the data"
        " into the repository instead"
    )


def _near(missing: Path) -> str:
    # Imported here: yaml_source loads PyYAML, which a run served from the validation cache
    # never needs (tests/unit/specs/test_spec_cache.py); only a missing path asks for it.
    from reconciler.yamlio.yaml_source import did_you_mean

    parent = missing.parent
    if not parent.is_dir():
        return ""
    try:
        siblings = sorted(entry.name for entry in parent.iterdir())
    except OSError:
        return ""
    return did_you_mean(missing.name, siblings)


def _suffix(path: str) -> str:
    """``Path(path).suffix``, without building the Path."""
    name = os.path.basename(path)  # noqa: PTH119 (as in RealPaths)
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""
