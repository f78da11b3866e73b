"""Which files make up a dataset: the one file set that fingerprints, zips and checks share.

A dataset is a single file or a folder. In a folder, every regular file under it counts, named
by its path relative to the folder (POSIX separators, Unicode NFC so that a name written on
macOS and on Linux is the same name), except:

- hidden entries: any file or folder whose name starts with ``.`` (``.DS_Store``,
  ``._photo.png`` resource forks, ``.git``), and the OS litter ``Thumbs.db``, ``desktop.ini``
  and ``__MACOSX`` (any case). They are skipped silently everywhere.
- symbolic links, special files (pipes, sockets, devices) and names that are not valid UTF-8.
  They are skipped too, but listed in ``DatasetListing`` so that the checks report them:
  a link could point outside the repository, and a zip cannot carry a name that is not UTF-8.

Empty folders carry no file and so do not count. Entries are sorted by name (code point order,
which is also UTF-8 byte order), so the order never depends on the file system.
"""

from __future__ import annotations

import itertools
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Compared case-insensitively. Dot-names are covered by the leading-dot rule.
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})


class DatasetError(Exception):
    """A dataset could not be read or packed; the message names the path and what to do."""


class DatasetChangedError(DatasetError):
    """A file changed while it was being read, hashed or uploaded."""


def is_ignored_name(name: str) -> bool:
    """True for hidden names and OS litter, which no dataset operation ever includes."""
    return name.startswith(".") or name.lower() in JUNK_NAMES


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset, with the stat fields the hash cache keys on."""

    name: str  # relative POSIX path, NFC; for a single-file dataset, the file's own name
    path: Path
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


@dataclass(frozen=True)
class DatasetListing:
    """The files of a dataset, plus what was left out and must be reported."""

    root: Path
    is_folder: bool
    files: tuple[DatasetFile, ...]
    folders: tuple[str, ...]  # sub-folders (relative names) that were not ignored
    links: tuple[str, ...]  # symbolic links, not followed
    special: tuple[str, ...]  # pipes, sockets, devices
    undecodable: tuple[str, ...]  # names that are not valid UTF-8 (shown with escapes)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def _file(name: str, path: Path, st: os.stat_result) -> DatasetFile:
    return DatasetFile(
        name=name,
        path=path,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
    )


def _is_utf8(name: str) -> bool:
    # Undecodable bytes come back from the OS as lone surrogates (PEP 383).
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def list_dataset(path: Path) -> DatasetListing:
    """List the files of the dataset at ``path`` (a folder or a single file).

    Raises ``DatasetError`` when the path does not exist or a folder cannot be read.
    """
    try:
        st = path.stat()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the dataset ({error.strerror})") from error
    if not stat.S_ISDIR(st.st_mode):
        if not stat.S_ISREG(st.st_mode):
            raise DatasetError(f"{path}: not a regular file or folder")
        single = _file(unicodedata.normalize("NFC", path.name), path, st)
        return DatasetListing(path, False, (single,), (), (), (), ())

    files: list[DatasetFile] = []
    folders: list[str] = []
    links: list[str] = []
    special: list[str] = []
    undecodable: list[str] = []
    pending: list[tuple[Path, str]] = [(path, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if is_ignored_name(entry.name):
                        continue
                    name = prefix + entry.name
                    if not _is_utf8(entry.name):
                        undecodable.append(name.encode("utf-8", "backslashreplace").decode())
                    elif entry.is_symlink():
                        links.append(name)
                    elif entry.is_dir(follow_symlinks=False):
                        folders.append(name)
                        pending.append((Path(entry.path), name + "/"))
                    elif entry.is_file(follow_symlinks=False):
                        normal = unicodedata.normalize("NFC", name)
                        entry_stat = entry.stat(follow_symlinks=False)
                        files.append(_file(normal, Path(entry.path), entry_stat))
                    else:
                        special.append(name)
        except OSError as error:
            raise DatasetError(f"{directory}: cannot list the folder ({error.strerror})") from error
    files.sort(key=lambda f: f.name)
    for before, after in itertools.pairwise(files):
        if before.name == after.name:
            # Two spellings of one name (NFC and NFD): the order between them would depend on
            # the file system, and one machine could not even hold both.
            raise DatasetError(
                f"{path}: two files are both named {after.name!r} once Unicode-normalised;"
                " rename one of them"
            )
    return DatasetListing(
        root=path,
        is_folder=True,
        files=tuple(files),
        folders=tuple(sorted(folders)),
        links=tuple(sorted(links)),
        special=tuple(sorted(special)),
        undecodable=tuple(sorted(undecodable)),
    )
