"""Where the JSON Schema files are: the checkout's ``schemas/``, else the copy in the package.

Kept apart from ``schema_check`` so that finding a schema (the validation cache hashes it)
does not import a JSON Schema library.
"""

from __future__ import annotations

from pathlib import Path

FINETUNE_SCHEMA = "finetune.schema.json"

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_CHECKOUT = _PACKAGE_DIR.parent
# A checkout (recognised by its pyproject.toml) keeps the schemas at the repo root, where
# editors find them through the spec modeline; an installed wheel carries a copy inside the
# package (pyproject force-include), and never looks in site-packages/schemas.
SCHEMA_DIRS = (
    *([_CHECKOUT / "schemas"] if (_CHECKOUT / "pyproject.toml").is_file() else []),
    _PACKAGE_DIR / "_schemas",
)


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
