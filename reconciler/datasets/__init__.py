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
Only the standard library is used; nothing here touches the network. Callers import each
name from its module (``reconciler.datasets.files``...): a run served from the caches loads
only the modules it uses, without a table of names loaded on first use.
"""
