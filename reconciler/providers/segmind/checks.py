"""Checks of Segmind datasets: a folder of images (zipped by us) or a ready ``.zip``.

Segmind's workers expect the images flat at the root of the zip and fail a zip of sub-folders
with "Looks like empty dataset. Please do not create subfolders, only zip the images"; the zip
must be under 100 MB. Images are JPG/JPEG/PNG/WebP (case-insensitive), each optionally with a
caption: a ``.txt`` of the same name. Hidden files and OS litter are ignored
(``reconciler/datasets/files.py``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from reconciler.datasets.archive import zip_size_of_listing
from reconciler.datasets.files import DatasetError, DatasetListing, is_ignored_name, list_dataset
from reconciler.datasets.problems import DatasetProblem, ProblemLog
from reconciler.providers.profile import DatasetUse

# "Under 100 MB" in decimal megabytes, the stricter reading.
SEGMIND_MAX_ZIP_BYTES = 100_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
CAPTION_SUFFIX = ".txt"
SUBFOLDER_FAILURE = (
    "Segmind fails such zips with 'Looks like empty dataset. Please do not create subfolders,"
    " only zip the images'"
)
_MAX_CAPTION_BYTES = 1 << 20


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _image_format_problem(path: Path) -> str | None:
    """A problem when the file's first bytes are not those of the image its name claims."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError as error:
        return f"cannot read the file ({error.strerror})"
    suffix = path.suffix.lower()
    if not head:
        return "the image is empty; remove it or export it again"
    if suffix in (".jpg", ".jpeg"):
        matches, kind = head.startswith(b"\xff\xd8\xff"), "JPEG"
    elif suffix == ".png":
        matches, kind = head.startswith(b"\x89PNG\r\n\x1a\n"), "PNG"
    else:
        matches, kind = head[:4] == b"RIFF" and head[8:12] == b"WEBP", "WebP"
    if matches:
        return None
    return f"not a {kind} image (its first bytes do not match); export it again as {kind}"


def _caption_problem(path: Path, size: int) -> str | None:
    if size > _MAX_CAPTION_BYTES:
        return "the caption is over 1 MiB; a caption is a short text"
    try:
        path.read_bytes().decode("utf-8")
    except OSError as error:
        return f"cannot read the file ({error.strerror})"
    except UnicodeDecodeError:
        return "the caption is not UTF-8; save it as UTF-8"
    return None


def _layout_problems(entries: dict[str, Path], log: ProblemLog, in_zip: bool) -> None:
    """Check the top-level names of a folder or a zip: images, captions and nothing else.

    ``entries`` maps each name to where its problems are reported: the file itself in a
    folder, the zip for a zip's members.
    """

    def subject(name: str) -> str:
        # A folder's problem is reported at the file itself; a zip's names the member.
        return f"in the zip, {name!r} is " if in_zip else ""

    stems: set[str] = set()
    captions: list[str] = []
    for name in entries:
        suffix = PurePosixPath(name).suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            stems.add(name[: -len(suffix)])
        elif suffix == CAPTION_SUFFIX:
            captions.append(name)
        else:
            log.add(
                None,
                f"{subject(name)}neither an image (jpg, jpeg, png, webp) nor a caption (.txt);"
                " remove it",
                path=entries[name],
            )
    for caption in captions:
        if caption[: -len(CAPTION_SUFFIX)] not in stems:
            log.add(
                None,
                f"{subject(caption)}a caption without an image of the same name; add the"
                " image or remove the caption",
                path=entries[caption],
            )
    if not stems:
        where = "the zip" if in_zip else "the folder"
        log.add(None, f"no images (jpg, jpeg, png, webp) at the top of {where}")


def check_segmind_folder(path: Path) -> list[DatasetProblem]:
    """Problems of a Segmind dataset folder (none when it is fine)."""
    log = ProblemLog(path)
    try:
        listing = list_dataset(path)
    except DatasetError as error:
        log.add(None, str(error).removeprefix(f"{path}: "))
        return log.problems()
    if not listing.is_folder:
        log.add(None, "not a folder; a Segmind dataset is a folder of images or a .zip")
        return log.problems()
    _report_skipped(listing, log)
    flat = [f for f in listing.files if "/" not in f.name]
    _layout_problems({f.name: f.path for f in flat}, log, in_zip=False)
    for file in flat:
        suffix = file.path.suffix.lower()
        problem = None
        if suffix in IMAGE_SUFFIXES:
            problem = _image_format_problem(file.path)
        elif suffix == CAPTION_SUFFIX:
            problem = _caption_problem(file.path, file.size)
        if problem:
            log.add(None, problem, path=file.path)
    try:
        size = zip_size_of_listing(listing)
    except DatasetError as error:
        log.add(None, str(error).removeprefix(f"{path}: "))
        return log.problems()
    if size >= SEGMIND_MAX_ZIP_BYTES:
        log.add(
            None,
            f"the zip would be {_megabytes(size)}; Segmind takes under"
            f" {_megabytes(SEGMIND_MAX_ZIP_BYTES)}: remove or shrink images",
        )
    return log.problems()


def _report_skipped(listing: DatasetListing, log: ProblemLog) -> None:
    top_folders = [name for name in listing.folders if "/" not in name]
    root = listing.root
    for folder in top_folders:
        log.add(
            None,
            "a sub-folder: put every image at the top of the dataset folder; " + SUBFOLDER_FAILURE,
            path=root / folder,
        )
    for name in listing.links:
        log.add(None, "a symbolic link; replace it with the file itself", path=root / name)
    for name in listing.special:
        log.add(None, "not a regular file; remove it", path=root / name)
    for name in listing.undecodable:
        log.add(None, f"the name {name!r} is not valid UTF-8; rename the file")


def check_segmind_zip(path: Path) -> list[DatasetProblem]:
    """Problems of a ready-made Segmind ``.zip`` (none when it is fine)."""
    log = ProblemLog(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        log.add(None, f"cannot read the file ({error.strerror})")
        return log.problems()
    if size >= SEGMIND_MAX_ZIP_BYTES:
        log.add(
            None,
            f"the zip is {_megabytes(size)}; Segmind takes under"
            f" {_megabytes(SEGMIND_MAX_ZIP_BYTES)}: remove or shrink images",
        )
        return log.problems()
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        log.add(None, f"not a readable zip ({error}); zip the images again")
        return log.problems()
    names: list[str] = []
    nested: set[str] = set()
    for info in infos:
        parts = PurePosixPath(info.filename).parts
        if not parts or any(is_ignored_name(part) for part in parts):
            continue
        if info.is_dir() or len(parts) > 1:
            nested.add(parts[0])
            continue
        names.append(info.filename)
    for folder in sorted(nested):
        log.add(None, f"the zip holds a folder {folder!r}; {SUBFOLDER_FAILURE}")
    _layout_problems(dict.fromkeys(names, path), log, in_zip=True)
    return log.problems()


def check_segmind_dataset(path: Path, use: DatasetUse) -> list[DatasetProblem]:
    """Problems of an existing Segmind dataset: a folder, a ``.zip``, or neither."""
    if path.is_dir():
        return check_segmind_folder(path)
    if path.suffix.lower() == ".zip":
        return check_segmind_zip(path)
    return [
        DatasetProblem(
            path, None, "Segmind takes a folder of images or a .zip of images at its root"
        )
    ]
