"""The readings of Qubrid's open questions the emulator can take (``Provider.variants``).

Qubrid's fine-tuning API is known only from its OpenAPI document (CONTRACTS.md §B, "treat every
Qubrid path as unverified"). Where the document leaves a question open, the default value is the
reading the client was written to and the others answer the other plausible ways:

- ``offset``: ``honoured`` | ``ignored`` (every page of ``GET /fine-tuning/jobs`` is the first
  page: a server that pages by ``limit`` alone, or not at all);
- ``total``: ``present`` | ``missing`` (the job list has no ``total``; the document lists the
  field but marks nothing required);
- ``list_shape``: ``object`` | ``array`` (each list answers a plain JSON array instead of
  ``{"data": [...]}``; under ``array`` there is no ``total`` either);
- ``ids``: ``strings`` | ``integers`` (job and dataset ids are JSON integers; the document
  gives no id format). Paths and request bodies still carry them as text, as the document's
  ``dataset_id`` is a string;
- ``models_route``: ``present`` | ``missing`` (``GET /fine-tuning/models`` answers 404: an
  account or deployment without the models list).

``limit``'s maximum is documented (``PageLimit``: 1–100), so it is no variant: the emulator
refuses a larger page with 400 under every reading.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from reconcile_sandbox.context import SandboxContext

VARIANTS: dict[str, tuple[str, ...]] = {
    "offset": ("honoured", "ignored"),
    "total": ("present", "missing"),
    "list_shape": ("object", "array"),
    "ids": ("strings", "integers"),
    "models_route": ("present", "missing"),
}


def offset_honoured(ctx: SandboxContext) -> bool:
    return ctx.variant("offset") == "honoured"


def integer_ids(ctx: SandboxContext) -> bool:
    return ctx.variant("ids") == "integers"


def models_route_present(ctx: SandboxContext) -> bool:
    return ctx.variant("models_route") == "present"


def list_body(ctx: SandboxContext, items: Sequence[Any], total: int | None = None) -> Any:
    """A list answer in the current shape: ``{"data", "total"?}``, or a plain array."""
    if ctx.variant("list_shape") == "array":
        return list(items)
    body: dict[str, Any] = {"data": list(items)}
    if total is not None and ctx.variant("total") == "present":
        body["total"] = total
    return body


def shown_id(value: str, integers: bool) -> str | int:
    """An id as the API shows it: an integer under ``ids=integers`` when it is one (ids made
    before the variant was set keep their text form)."""
    return int(value) if integers and value.isdigit() else value


def numeric_id() -> str:
    """A new id under ``ids=integers``: a random decimal number (stored as text)."""
    return str(uuid.uuid4().int % 10**15 + 10**14)
