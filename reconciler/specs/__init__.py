"""The spec language: ``kind: FineTune`` YAML documents -> validated ``FineTuneSpec`` values.

``load_specs(paths)`` is the entry point; it raises ``InvalidInputError`` carrying every
problem of every file, each positioned ``path:line:col: field: message``. The parts:

- YAML with positions and the JSON Schema checks come from ``reconciler.yamlio``, which
  ``reconciler.yaml`` is read through too;
- ``finetune``: one document -> one spec (header, dataset paths, defaults); job-name rules
  come from ``reconciler.naming`` and are carried by the schema;
- ``loader``: discovery (only inside the repository), cross-file checks (duplicates, dataset
  contents), the error; ``notes`` says what a search skipped;
- ``cache``: what passed, remembered under ``.reconcile/`` so unchanged files are not parsed
  or read again, sealed with this machine's key so that no committed file stands in for a
  reviewed one (``dataset_paths``, and ``yamlio``'s ``text_file`` and ``schema_files``, are
  what a cached run needs, kept free of the YAML and JSON Schema libraries).
"""

from reconciler.specs.cache import ValidationCache
from reconciler.specs.loader import find_spec_files, load_specs, open_validation_cache

__all__ = ["ValidationCache", "find_spec_files", "load_specs", "open_validation_cache"]
