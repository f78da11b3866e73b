"""``fast_json.loads`` gives what ``json.loads`` gives, including where orjson alone would not."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler import fast_json

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_every_document_reads_as_the_standard_library_reads_it(value: object) -> None:
    text = json.dumps(value)
    assert fast_json.loads(text) == json.loads(text)
    assert fast_json.loads(text.encode()) == json.loads(text.encode())


@pytest.mark.parametrize("document", ['{"id": "caf\u00e9"}'.encode("utf-16"), b"[1, 2]\n"])
def test_what_orjson_refuses_is_read_by_the_standard_library(document: bytes) -> None:
    assert fast_json.loads(document) == json.loads(document)


def test_an_integer_wider_than_64_bits_is_read_as_a_float() -> None:
    # The one documented difference from json.loads.
    assert fast_json.loads(b'{"id": 1180591620717411303424}') == {"id": float(2**70)}


def test_nan_is_read_as_the_standard_library_reads_it() -> None:
    assert math.isnan(fast_json.loads(b'{"loss": NaN}')["loss"])


@pytest.mark.parametrize("document", [b"", b"{", b"<html>502 Bad Gateway</html>", b"\xff\xfe\x00"])
def test_what_is_not_json_raises_value_error(document: bytes) -> None:
    with pytest.raises(ValueError):
        fast_json.loads(document)
