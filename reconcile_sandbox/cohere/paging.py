"""Cohere's list paging: ``page_size``, opaque ``page_token`` and ``order_by`` on created_at.

Fine-tuned model lists page by keyset, not by offset: the token carries the sort key of the
last row shown (and the order it was issued for), so rows created between two page requests
neither repeat nor vanish from the pages still to come. Event and step-metric lists are short
and fixed once written, so their tokens carry a plain offset. Every token is URL-safe base64 of
a small JSON value, opaque to clients; a token that does not decode is a 400.

Nothing here does I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

DEFAULT_PAGE_SIZE = 50
ORDERS = ("created_at", "created_at desc")


class PagingInvalid(ValueError):
    """A paging parameter the provider answers with 400."""


@dataclass(frozen=True)
class PageRequest:
    """The parsed paging parameters of one list request."""

    size: int
    descending: bool
    token: Any
    """The decoded token (a keyset or an offset), or None for the first page."""


def parse_page_request(
    page_size: str | None, page_token: str | None, order_by: str | None
) -> PageRequest:
    """Read ``page_size`` (0 or absent means 50), ``page_token`` and ``order_by``."""
    size = DEFAULT_PAGE_SIZE
    if page_size not in (None, ""):
        try:
            size = int(str(page_size))
        except ValueError:
            raise PagingInvalid(f"page_size must be a whole number; got {page_size!r}") from None
        if size < 0 or size > 2**31 - 1:
            raise PagingInvalid(f"page_size must be 0 (for 50) or more; got {size}")
        size = size or DEFAULT_PAGE_SIZE
    order = " ".join((order_by or "created_at").split()).lower()
    if order not in ORDERS:
        raise PagingInvalid(
            f"order_by {order_by!r} is not supported; use 'created_at' or 'created_at desc'"
        )
    descending = order == "created_at desc"
    token = decode_token(page_token, descending) if page_token else None
    return PageRequest(size=size, descending=descending, token=token)


def encode_token(value: Any, descending: bool) -> str:
    """An opaque token for ``value`` (a keyset list or an offset)."""
    raw = json.dumps({"v": value, "d": descending}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, descending: bool) -> Any:
    """The value inside ``token``; refuses tokens that are malformed or for another order."""
    try:
        padded = token + "=" * (-len(token) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value = fields["v"]
        issued_descending = fields["d"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise PagingInvalid(
            "page_token is not a token this API issued; pass next_page_token from the "
            "previous page unchanged, or omit it for the first page"
        ) from None
    if issued_descending != descending:
        raise PagingInvalid(
            "page_token was issued for another order_by; keep order_by the same across pages"
        )
    return value


def offset_of(page: PageRequest) -> int:
    """The offset an offset token carries (0 for the first page)."""
    if page.token is None:
        return 0
    if isinstance(page.token, bool) or not isinstance(page.token, int) or page.token < 0:
        raise PagingInvalid("page_token is not a token this API issued for this list")
    return page.token
