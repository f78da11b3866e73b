"""How the views show a number of bytes: in decimal units, as upload tools print them."""

from __future__ import annotations


def human_size(size: int) -> str:
    """Bytes in decimal units, as upload tools print them: ``12.3 MB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
