"""Where the JSON Schema files are (the checkout's ``schemas/``, else the copy in the package),
what each is published as, and copies of them written for a user's repository.

Kept apart from ``schema_check`` so that finding a schema (the validation cache hashes it)
does not import a JSON Schema library.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

FINETUNE_SCHEMA = "finetune.schema.json"
CONFIG_SCHEMA = "config.schema.json"
# `reconcile schema [spec|config]`: what a user names -> the file.
SCHEMA_NAMES = {"spec": FINETUNE_SCHEMA, "config": CONFIG_SCHEMA}

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_CHECKOUT = _PACKAGE_DIR.parent
# A checkout (recognised by its pyproject.toml) keeps the schemas at the repo root, where
# editors find them through the spec modeline; an installed wheel carries a copy inside the
# package (pyproject force-include), and never looks in site-packages/schemas.
SCHEMA_DIRS = (
    *([_CHECKOUT / "schemas"] if (_CHECKOUT / "pyproject.toml").is_file() else []),
    _PACKAGE_DIR / "_schemas",
)
# The `$id` is the file at its release tag; read from the file's text, without parsing JSON.
_ID = re.compile(r'"\$id":\s*"([^"]+)"')


def schema_path(name: str, directories: tuple[Path, ...] = SCHEMA_DIRS) -> Path:
    """The file of schema ``name`` (e.g. ``finetune.schema.json``) in the first of
    ``directories`` that has it: the checkout's first, else the package's."""
    for directory in directories:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"schema {name} not found in {' or '.join(str(d) for d in directories)};"
        " reinstall the package"
    )


def published_url(name: str) -> str:
    """The address schema ``name`` is published at: its ``$id`` (docs/specs.md)."""
    found = _ID.search(schema_path(name).read_text(encoding="utf-8"))
    if found is None:
        raise FileNotFoundError(f"schema {name} has no $id; reinstall the package")
    return found.group(1)


def write_schema(name: str, destination: str) -> Path:
    """Write a copy of schema ``name`` to ``destination``: a file, or a folder to write it
    into (one that exists, or a path ending in ``/``); missing folders are made, an older
    copy is replaced whole (never half-written). Returns the file written; raises
    ``OSError``."""
    # Here, not at the top: config imports this module on every run, and tempfile (shutil,
    # bz2, lzma, random) would add about 2.5 ms to it (-X importtime) for `schema --out` alone.
    import tempfile

    out = Path(destination)
    if out.is_dir() or destination.endswith(("/", os.sep)):
        out = out / name
    data = schema_path(name).read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # noqa: PTH101 (mkstemp's 0600 would hide it from the team)
        os.replace(temporary, out)  # noqa: PTH105 (the atomic rename, by path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out
