"""Desired jobs: the validated specs with their owner and their datasets' fingerprints.

``load_desired`` reads the specs under some paths (``loader``, through the validation cache)
and fingerprints every local dataset they name; ``desired_jobs`` does the second half for
specs already loaded. A dataset's fingerprint (the sha256 of what is uploaded: a folder's
deterministic zip, a file as it is) and its upload size come from the per-file digests cached
under the state folder and from the validation cache, which remembers them per listing. A
dataset that cannot be read is an input problem of the spec that names it, reported with all
the others before any request is made.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from reconciler.config import Settings
from reconciler.core.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.core.spec import DesiredJob, FineTuneSpec
from reconciler.datasets.files import DatasetError, list_dataset
from reconciler.specs.cache import ValidationCache, listing_settled, state_dir
from reconciler.specs.loader import load_specs, open_validation_cache


def desired_jobs(
    specs: Sequence[FineTuneSpec],
    cache_dir: Path | None,
    validated: ValidationCache | None = None,
    owner: str | None = None,
) -> list[DesiredJob]:
    """Each spec with the repository's ``owner`` and its dataset's fingerprint and upload size
    (local datasets only).

    A dataset several specs share is read once. A dataset that cannot be read is an input
    problem of the spec naming it: all of them are raised together as ``InvalidInputError``.
    Per-file digests are cached under ``cache_dir``; ``validated`` (the validation cache)
    also remembers each dataset's result for its exact listing.
    """
    known: dict[Path, tuple[str, int]] = {}
    problems: list[Diagnostic] = []
    jobs: list[DesiredJob] = []
    for spec in specs:
        if not spec.dataset.is_local:
            jobs.append(DesiredJob(spec, owner=owner))
            continue
        path = spec.dataset.path
        try:
            if path not in known:
                known[path] = _fingerprint_and_size(path, cache_dir, validated)
        except DatasetError as error:
            where = spec.source
            problems.append(
                Diagnostic(display_path(where.file), where.line, where.col, "dataset", str(error))
            )
            continue
        sha256, size = known[path]
        jobs.append(DesiredJob(spec, dataset_fingerprint=sha256, upload_size=size, owner=owner))
    if problems:
        raise InvalidInputError(problems)
    return jobs


def _fingerprint_and_size(
    path: Path, cache_dir: Path | None, validated: ValidationCache | None
) -> tuple[str, int]:
    """A dataset's sha256 and upload size: a folder is sent as its deterministic zip, a file
    as it is. Remembered in ``validated`` only when the files held still and were old
    enough to be trusted by stat (``stat_cache.RACY_WINDOW_NS``)."""
    started = time.time_ns()
    listing = validated.listing(path) if validated is not None else list_dataset(path)
    remembered = validated.fingerprint_of(listing) if validated is not None else None
    if remembered is not None:
        return remembered
    # Imported here: a run served from the validation cache reads no dataset.
    from reconciler.datasets.archive import zip_size_of_listing
    from reconciler.datasets.fingerprint import fingerprint_listing

    fingerprint = fingerprint_listing(listing, cache_dir=cache_dir)
    size = zip_size_of_listing(listing) if listing.is_folder else fingerprint.size
    if validated is not None and listing_settled(listing, started):
        with contextlib.suppress(DatasetError):
            if list_dataset(path) == listing:
                validated.remember_fingerprint(listing, fingerprint.sha256, size)
    return fingerprint.sha256, size


def load_desired(settings: Settings, paths: Sequence[Path]) -> list[DesiredJob]:
    """Specs under ``paths`` (default: the settings' spec paths) as desired jobs. Raises
    ``InvalidInputError`` with every problem before any request is made."""
    validated = open_validation_cache(settings)
    specs = load_specs(list(paths), settings=settings, cache=validated)
    try:
        return desired_jobs(specs, state_dir(settings), validated, settings.owner)
    finally:
        if validated is not None:
            validated.save()
