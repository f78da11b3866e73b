"""Datasets: content fingerprints, the deterministic zip of a folder, upload bodies, problems.

Everything a local dataset (a folder or a file named by a spec) needs before the network:

- ``fingerprint_dataset`` (``fingerprint.py``): the sha256 of a canonical manifest of the
  files, the same on every machine, with per-file digests cached by stat under ``.reconcile/``
  (``stat_cache.py``);
- ``plan_zip`` / ``zip_size`` (``archive.py``): the byte-identical zip of a dataset folder,
  its exact size known before it is streamed;
- ``upload_body`` (``upload.py``): a sized, restartable, streamed body for any local dataset;
- ``DatasetProblem`` (``problems.py``) and the readers of lines and tables the format checks
  share: each provider's checks live in its folder (``reconciler/providers/<name>/checks.py``)
  and report problems as values, never raised.

Which files count (hidden files and OS litter do not) is decided once, in ``files.py``.
Only the standard library is used; nothing here touches the network. The names below are
imported on first use: a run served from the caches needs only ``files`` of them.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.datasets.archive import DatasetZip, ZipMember, plan_zip, write_zip, zip_size
    from reconciler.datasets.files import (
        DatasetChangedError,
        DatasetError,
        DatasetFile,
        DatasetListing,
        is_ignored_name,
        list_dataset,
    )
    from reconciler.datasets.fingerprint import Fingerprint, fingerprint_dataset, manifest_bytes
    from reconciler.datasets.problems import DatasetProblem
    from reconciler.datasets.upload import UploadBody, upload_body

_MODULE_OF = {
    "DatasetChangedError": "files",
    "DatasetError": "files",
    "DatasetFile": "files",
    "DatasetListing": "files",
    "DatasetProblem": "problems",
    "DatasetZip": "archive",
    "Fingerprint": "fingerprint",
    "UploadBody": "upload",
    "ZipMember": "archive",
    "fingerprint_dataset": "fingerprint",
    "is_ignored_name": "files",
    "list_dataset": "files",
    "manifest_bytes": "fingerprint",
    "plan_zip": "archive",
    "upload_body": "upload",
    "write_zip": "archive",
    "zip_size": "archive",
}

__all__ = [
    "DatasetChangedError",
    "DatasetError",
    "DatasetFile",
    "DatasetListing",
    "DatasetProblem",
    "DatasetZip",
    "Fingerprint",
    "UploadBody",
    "ZipMember",
    "fingerprint_dataset",
    "is_ignored_name",
    "list_dataset",
    "manifest_bytes",
    "plan_zip",
    "upload_body",
    "write_zip",
    "zip_size",
]


def __getattr__(name: str) -> Any:
    """``reconciler.datasets.NAME``, imported from its module on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
