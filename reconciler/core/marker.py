"""The ownership marker: what the name of a dataset reconcile uploaded says about it (the spec
name, a content fingerprint, the owner id). ``reconciler.naming`` formats and parses it per
provider; this is the value alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Marker:
    """What the name of a dataset we uploaded says: the spec name, the first 12 hex digits of
    the dataset's content fingerprint, and the owner id of the repository that uploaded it
    (``None`` where the name has no room for it, or from before owners); ``reconciler.naming``
    formats and parses it."""

    name: str
    fingerprint12: str
    owner: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.owner}--" if self.owner else ""
        return f"{prefix}{self.name}-rc{self.fingerprint12}"
