"""Reading Qubrid's lists, and judging whether a paged job list can be trusted.

``GET /fine-tuning/jobs`` pages by ``limit`` (documented 1–100, default 20) and ``offset`` and
answers ``{"data": [...], "total": n}`` (CONTRACTS.md §B). The document is unverified, so the
client reads the other plausible answers too, and never takes a partial list for the whole:

- a server that ignores ``offset`` answers the first page again and again. A later page that
  brings no job not already listed shows it (``ignored_offset_error``); so does a list that
  ends with fewer distinct jobs than its ``total`` said when listing began (Qubrid cannot
  delete jobs, so every job counted then is still there: ``unseen_jobs_error``). A job created
  while paging shifts a later page by one; that page still brings new jobs, and the check
  counts against the first total, so it stays harmless;
- without ``total`` (or with a plain array), the client pages until a page is shorter than the
  ``limit`` it asked for;
- the page size starts at the documented maximum and steps down on a 400 (``PAGE_LIMITS``), so
  a server with a lower cap is still read;
- ids may be JSON integers: they are kept as text, as the plan compares ids as text.

An untrustworthy list is an ``UntrustworthyListError``: the observation is then incomplete and
the plan changes nothing on Qubrid (a job it did not see may be the one a spec names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.providers.base import PermanentError

# The documented maximum, then smaller sizes for a server that refuses it with a 400; the last
# is Qubrid's documented default, which any server that pages at all must take.
PAGE_LIMITS = (100, 50, 20)
PAGE_LIMIT = PAGE_LIMITS[0]
# A bound on pages, so a list whose total keeps growing cannot keep observe going forever.
MAX_PAGES = 10_000
NOTHING_CHANGED = "the job list cannot be trusted; nothing was changed on Qubrid"


class UntrustworthyListError(PermanentError):
    """Qubrid's job pages do not add up to a whole list."""


@dataclass(frozen=True)
class JobPage:
    """One answer of ``GET /fine-tuning/jobs``: the page asked for (``offset``, ``limit``),
    its jobs (ids as text) and the ``total`` it reported (``None``: none)."""

    offset: int
    limit: int
    items: list[Mapping[str, Any]]
    total: int | None


def remote_id(value: Any) -> str | None:
    """An id as text: a non-empty string, or an integer (``bool`` is no id)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def data_list(body: Any, what: str) -> list[Any]:
    """The entries of a Qubrid list answer: ``{"data": [...]}`` or a plain array."""
    data = body.get("data") if isinstance(body, Mapping) else body
    if not isinstance(data, list):
        raise PermanentError("qubrid", f"{what}: the answer is neither a list nor has a data list")
    return data


def list_items(
    body: Any, what: str, id_fields: Sequence[str] = ("id",)
) -> tuple[list[Mapping[str, Any]], int | None]:
    """The entries of a Qubrid list and its ``total`` (``None`` when absent or unusable).

    ``{"data": [...], "total"?}`` or a plain array. Every entry must be an object with an
    ``id``; ``id_fields`` (the entry's id and the ids it refers to) are turned into text.
    """
    raw_total = body.get("total") if isinstance(body, Mapping) else None
    usable = isinstance(raw_total, int) and not isinstance(raw_total, bool) and raw_total >= 0
    total = raw_total if usable else None
    items: list[Mapping[str, Any]] = []
    for item in data_list(body, what):
        if not isinstance(item, Mapping) or remote_id(item.get("id")) is None:
            raise PermanentError("qubrid", f"{what}: an entry has no id")
        items.append(_ids_as_text(item, id_fields))
    return items, total


def _ids_as_text(item: Mapping[str, Any], id_fields: Sequence[str]) -> Mapping[str, Any]:
    changed = {
        field: remote_id(item[field])
        for field in id_fields
        if field in item and not isinstance(item[field], str)
    }
    return {**item, **changed} if changed else item


def ignored_offset_error(page: JobPage, seen: int, total: int | None) -> UntrustworthyListError:
    """A later page that brought only jobs already listed: the server ignored ``offset``."""
    counted = f"{seen} distinct jobs seen" + (f" of the {total} it reports" if total else "")
    return UntrustworthyListError(
        "qubrid",
        f"Qubrid ignored `offset`: the page at offset {page.offset} repeated jobs already "
        f"listed ({counted}), so jobs past the first page cannot be read; {NOTHING_CHANGED}",
    )


def unseen_jobs_error(seen: int, total: int) -> UntrustworthyListError:
    """Fewer distinct jobs than the ``total`` reported when listing began."""
    return UntrustworthyListError(
        "qubrid",
        f"Qubrid reported {total} fine-tuning jobs but its pages held only {seen} distinct "
        f"ones (does it honour `offset`?); {NOTHING_CHANGED}",
    )
