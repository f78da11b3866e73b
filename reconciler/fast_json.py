"""Decoding the large JSON documents: the providers' list pages and the caches under
``.reconcile/``.

A list of 10,000 jobs is megabytes of JSON, read on every plan; orjson decodes it several
times faster than the standard library. Anything orjson refuses that ``json.loads`` accepts
(text not in UTF-8, ``NaN``) is handed to ``json.loads``, and what neither reads raises
``ValueError``, as ``json.loads`` does. One difference is left: orjson reads an integer wider
than 64 bits as a float. No field we read comes near that (ids are strings; counts, sizes and
times in nanoseconds fit in 63 bits).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(document: bytes | str) -> Any:
    """The value of a JSON ``document``, as ``json.loads`` gives it; ``ValueError`` for one
    that is not JSON, or nested deeper than ``json.loads`` can recurse (a hostile answer or
    file must be a readable error, never a ``RecursionError`` that ends the process)."""
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:
        try:
            return json.loads(document)
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None
