"""The ownership marker: formatting, parsing back from every provider's form, name limits."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.marker import Marker
from reconciler.naming import (
    MARKER_LENGTH,
    NAME_PATTERN,
    is_valid_name,
    marker_for,
    parse_marker,
)
from reconciler.providers.cohere.profile import (
    COHERE_DATASET_NAME_MAX,
    parse_cohere_dataset_name,
)
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.profile import (
    QUBRID_SUFFIX_MAX,
    parse_qubrid_dataset_name,
    qubrid_suffix,
)
from reconciler.providers.segmind.profile import parse_segmind_dataset_url

FP = hashlib.sha256(b"x").hexdigest()

names = st.from_regex(re.compile(rf"\A{NAME_PATTERN}\Z"), fullmatch=True).filter(
    lambda n: len(n) <= 64
)
fingerprints = st.binary(min_size=1, max_size=64).map(lambda b: hashlib.sha256(b).hexdigest())


def test_the_marker_is_name_rc_and_twelve_hex() -> None:
    marker = marker_for("mascot-flux-pro-v1", FP)
    assert str(marker) == f"mascot-flux-pro-v1-rc{FP[:12]}"
    assert marker == Marker("mascot-flux-pro-v1", FP[:12])


@pytest.mark.parametrize("name", ["Mascot", "a_b", "a.b", "-a", "a-", "a--b", "", "ä"])
def test_names_that_cannot_carry_the_marker_are_refused(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(ValueError, match="cannot carry the marker"):
        marker_for(name, FP)


def test_a_fingerprint_must_be_hex() -> None:
    with pytest.raises(ValueError, match="not sha256 hex"):
        marker_for("a", "not-a-fingerprint")


@pytest.mark.parametrize(
    ("provider", "suffix", "remote_name", "file_name"),
    [
        ("segmind", "", f"m-rc{FP[:12]}.zip", f"m-rc{FP[:12]}.zip"),
        ("segmind", ".ZIP", f"m-rc{FP[:12]}.zip", f"m-rc{FP[:12]}.zip"),
        ("qubrid", ".csv", f"m-rc{FP[:12]}.csv", f"m-rc{FP[:12]}.csv"),
        ("cohere", ".jsonl", f"m-rc{FP[:12]}", f"m-rc{FP[:12]}.jsonl"),
        ("cohere", ".csv", f"m-rc{FP[:12]}", f"m-rc{FP[:12]}.csv"),
    ],
)
def test_upload_names(provider: str, suffix: str, remote_name: str, file_name: str) -> None:
    assert PROFILES[provider].upload_names(marker_for("m", FP), suffix) == (remote_name, file_name)  # type: ignore[index]


def test_the_longest_names_fit_each_providers_limits() -> None:
    cohere = marker_for("a" * PROFILES["cohere"].max_name_length, FP)
    assert len(PROFILES["cohere"].upload_names(cohere, ".jsonl")[0]) == COHERE_DATASET_NAME_MAX < 50
    qubrid = "q" * PROFILES["qubrid"].max_name_length
    assert len(qubrid_suffix(qubrid, FP)) == QUBRID_SUFFIX_MAX
    assert len(PROFILES["qubrid"].upload_names(marker_for(qubrid, FP), ".csv")[0]) <= 256
    assert {p: profile.max_name_length for p, profile in PROFILES.items()} == {
        "segmind": 64,
        "qubrid": 49,
        "cohere": 34,
    }
    assert MARKER_LENGTH == 15


def test_a_qubrid_suffix_without_a_local_dataset_is_the_name() -> None:
    assert qubrid_suffix("m", None) == "m"
    assert qubrid_suffix("m", FP) == f"m-rc{FP[:12]}"


@given(names, fingerprints)
def test_round_trip_through_every_provider_form(name: str, fingerprint: str) -> None:
    marker = marker_for(name, fingerprint)
    assert parse_marker(str(marker)) == marker
    assert parse_qubrid_dataset_name(f"{marker}.csv") == marker
    assert parse_cohere_dataset_name(str(marker)) == marker


@given(
    names,
    fingerprints,
    st.from_regex(r"\A[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\Z", fullmatch=True),
    st.sampled_from(["", ".zip", ".zip.zip"]),
    st.sampled_from(["", "?X-Amz-Signature=abc&X-Amz-Expires=900"]),
)
def test_round_trip_through_a_segmind_object_key(
    name: str, fingerprint: str, file_id: str, extension: str, query: str
) -> None:
    marker = marker_for(name, fingerprint)
    url = f"https://finetune-pipeline.s3.amazonaws.com/uploads/u1/{file_id}-{marker}{extension}{query}"
    assert parse_segmind_dataset_url(url, name) == marker
    assert PROFILES["segmind"].marker_in_dataset_ref(url, name) == marker


@given(st.text(alphabet="abcr-0123456789.xyz_", max_size=60))
def test_text_without_a_marker_never_parses(text: str) -> None:
    has_marker = re.search(r"-rc[0-9a-f]{12}", text) is not None
    if not has_marker:
        assert parse_marker(text) is None
        assert parse_segmind_dataset_url(f"https://x.test/u/{text}", "abc") is None


@pytest.mark.parametrize(
    "text",
    [
        "mascot.zip",
        "mascot-rc123.zip",
        f"mascot-rc{FP[:11]}",  # one hex short
        f"mascot-rc{FP[:13]}",  # one too many
        f"mascot-rc{FP[:11].upper()}A",  # upper-case hex is not ours
        f"mascot-{FP[:12]}",  # no "rc"
        f"-rc{FP[:12]}",  # no name
        f"Mascot-rc{FP[:12]}",
        f"mascot-rc{FP[:12]}.txt",
    ],
)
def test_near_misses_are_not_markers(text: str) -> None:
    assert parse_marker(text) is None


def test_a_segmind_url_marks_only_the_job_it_names() -> None:
    url = f"https://s3.test/uploads/u/f1-mascot-v1-rc{FP[:12]}.zip"
    assert parse_segmind_dataset_url(url, "mascot-v1") == Marker("mascot-v1", FP[:12])
    assert parse_segmind_dataset_url(url, "other") is None
    assert parse_segmind_dataset_url(url, "ascot-v1") is None
    assert parse_segmind_dataset_url(url, "Bad_Name") is None


def test_a_name_that_itself_looks_like_a_marker_still_parses() -> None:
    inner = f"a-rc{FP[:12]}"
    marker = marker_for(inner, FP)
    assert parse_marker(str(marker)) == marker


def test_qubrid_dataset_ids_carry_no_marker() -> None:
    assert PROFILES["qubrid"].marker_in_dataset_ref(f"m-rc{FP[:12]}", "m") is None
    assert PROFILES["segmind"].marker_in_dataset_ref(f"https://x/m-rc{FP[:12]}.zip", None) is None
    # Cohere's dataset ids have no documented form: the marker comes from the listed name.
    assert PROFILES["cohere"].marker_in_dataset_ref(f"m-rc{FP[:12]}-abc123", None) is None
