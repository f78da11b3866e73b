"""Reading YAML and JSON Schema with positions: the layer under ``config`` and ``specs``.

- ``text_file``: bounded, UTF-8-only reading of a file inside the repository (special files
  refused before any open);
- ``yaml_source``: alias-bomb-safe YAML with the position of every field;
- ``schema_files``: where the JSON Schemas are (the checkout's ``schemas/``, else the package's
  copy), without importing a JSON Schema library;
- ``schema_check``: the schemas' errors as readable, positioned diagnostics.

Both ``reconciler.yaml`` (``config``) and spec files (``specs``) are read through it, so it
imports neither.
"""
