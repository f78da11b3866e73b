"""``may_carry_marker``, the cheap test guarding every parse of a listed value, never hides a
marker that a parse would find."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from reconciler.naming import marker_for, may_carry_marker, parse_marker
from reconciler.providers.segmind.profile import parse_segmind_dataset_url

NAMES = st.from_regex(r"[a-z0-9]{1,8}(?:-[a-z0-9]{1,8}){0,3}", fullmatch=True)
FINGERPRINTS = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


def test_plain_values_cannot_carry_a_marker() -> None:
    assert not may_carry_marker("legacy-dataset.csv")
    assert not may_carry_marker("https://bucket.test/uploads/u/123-photos.zip")
    assert may_carry_marker("mascot-rc0123456789ab.csv")
    assert may_carry_marker("https://bucket.test/uploads/u/123-mascot%2Drc0123456789ab.zip")


@given(NAMES, FINGERPRINTS, st.sampled_from(["", ".csv", ".zip"]))
def test_every_form_a_marker_takes_passes_the_test(name: str, fingerprint: str, ext: str) -> None:
    marker = marker_for(name, fingerprint)
    plain = f"{marker}{ext}"
    url = f"https://bucket.test/uploads/u/9f-{quote(plain, safe='')}"
    escaped = f"https://bucket.test/uploads/u/9f-{plain.replace('-', '%2D')}"
    assert parse_marker(plain) == marker and may_carry_marker(plain)
    for form in (url, escaped):
        assert parse_segmind_dataset_url(form, name) == marker
        assert may_carry_marker(form)
