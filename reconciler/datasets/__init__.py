"""Datasets: content fingerprints, the deterministic Segmind zip, upload bodies and checks.

Everything a local dataset (a folder or a file named by a spec) needs before the network:

- ``fingerprint_dataset`` (``fingerprint.py``): the sha256 of a canonical manifest of the
  files, the same on every machine, with per-file digests cached by stat under ``.reconcile/``
  (``stat_cache.py``);
- ``plan_zip`` / ``zip_size`` (``archive.py``): the byte-identical zip of a Segmind folder,
  its exact size known before it is streamed;
- ``upload_body`` (``upload.py``): a sized, restartable, streamed body for any local dataset;
- ``check_dataset`` (``checks.py``): every problem of a dataset for its provider, as
  ``DatasetProblem`` values, never raised.

Which files count (hidden files and OS litter do not) is decided once, in ``files.py``.
Only the standard library is used; nothing here touches the network. The names below are
imported on first use: a run served from the caches needs only ``files`` of them.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.datasets.archive import DatasetZip, ZipMember, plan_zip, write_zip, zip_size
    from reconciler.datasets.checks import check_dataset
    from reconciler.datasets.cohere_checks import (
        COHERE_FINETUNE_TYPES,
        check_cohere_chat,
        check_cohere_classification,
        check_cohere_dataset,
        check_cohere_rerank,
        cohere_dataset_type,
    )
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
    from reconciler.datasets.qubrid_checks import (
        QUBRID_DEFAULT_COLUMNS,
        check_qubrid_csv,
        qubrid_columns,
    )
    from reconciler.datasets.segmind_checks import (
        SEGMIND_MAX_ZIP_BYTES,
        check_segmind_folder,
        check_segmind_zip,
    )
    from reconciler.datasets.upload import UploadBody, upload_body

_MODULE_OF = {
    "COHERE_FINETUNE_TYPES": "cohere_checks",
    "DatasetChangedError": "files",
    "DatasetError": "files",
    "DatasetFile": "files",
    "DatasetListing": "files",
    "DatasetProblem": "problems",
    "DatasetZip": "archive",
    "Fingerprint": "fingerprint",
    "QUBRID_DEFAULT_COLUMNS": "qubrid_checks",
    "SEGMIND_MAX_ZIP_BYTES": "segmind_checks",
    "UploadBody": "upload",
    "ZipMember": "archive",
    "check_cohere_chat": "cohere_checks",
    "check_cohere_classification": "cohere_checks",
    "check_cohere_dataset": "cohere_checks",
    "check_cohere_rerank": "cohere_checks",
    "check_dataset": "checks",
    "check_qubrid_csv": "qubrid_checks",
    "check_segmind_folder": "segmind_checks",
    "check_segmind_zip": "segmind_checks",
    "cohere_dataset_type": "cohere_checks",
    "fingerprint_dataset": "fingerprint",
    "is_ignored_name": "files",
    "list_dataset": "files",
    "manifest_bytes": "fingerprint",
    "plan_zip": "archive",
    "qubrid_columns": "qubrid_checks",
    "upload_body": "upload",
    "write_zip": "archive",
    "zip_size": "archive",
}

__all__ = [
    "COHERE_FINETUNE_TYPES",
    "QUBRID_DEFAULT_COLUMNS",
    "SEGMIND_MAX_ZIP_BYTES",
    "DatasetChangedError",
    "DatasetError",
    "DatasetFile",
    "DatasetListing",
    "DatasetProblem",
    "DatasetZip",
    "Fingerprint",
    "UploadBody",
    "ZipMember",
    "check_cohere_chat",
    "check_cohere_classification",
    "check_cohere_dataset",
    "check_cohere_rerank",
    "check_dataset",
    "check_qubrid_csv",
    "check_segmind_folder",
    "check_segmind_zip",
    "cohere_dataset_type",
    "fingerprint_dataset",
    "is_ignored_name",
    "list_dataset",
    "manifest_bytes",
    "plan_zip",
    "qubrid_columns",
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
