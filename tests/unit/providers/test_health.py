"""Provider status -> Health, per provider; unknown statuses are Unknown, never an error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.observed import Health, worst_health
from reconciler.providers.cohere.profile import cohere_health
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.profile import qubrid_health
from reconciler.providers.segmind.profile import segmind_health

H = Health


@pytest.mark.parametrize(
    ("status", "health"),
    [
        ("REQUESTED", H.PENDING),
        ("QUEUED", H.PENDING),
        ("DATA_PROCESSING", H.PROGRESSING),
        ("TRAINING_INITIATED", H.PROGRESSING),
        ("TRAINING_COMPLETED", H.PROGRESSING),
        ("RETRIED", H.PROGRESSING),
        ("DEPLOYING", H.PROGRESSING),
        ("INFERENCE_QUEUED", H.PROGRESSING),
        ("AVAILABLE", H.HEALTHY),
        ("available", H.HEALTHY),
        (" FAILED ", H.DEGRADED),
        ("SOMETHING_NEW", H.UNKNOWN),
        ("", H.UNKNOWN),
        (None, H.UNKNOWN),
    ],
)
def test_segmind(status: str | None, health: Health) -> None:
    assert segmind_health(status) is health


@pytest.mark.parametrize(
    ("status", "model_status", "health"),
    [
        ("queued", None, H.PENDING),
        ("running", None, H.PROGRESSING),
        ("completed", None, H.HEALTHY),
        ("completed", "available", H.HEALTHY),
        ("completed", "deploying", H.PROGRESSING),
        ("completed", "deleted", H.MISSING),
        ("completed", "archived", H.UNKNOWN),
        ("failed", None, H.DEGRADED),
        ("failed", "deleted", H.DEGRADED),
        ("cancelled", None, H.MISSING),
        ("COMPLETED", None, H.HEALTHY),
        ("paused", None, H.UNKNOWN),
        (None, None, H.UNKNOWN),
    ],
)
def test_qubrid(status: str | None, model_status: str | None, health: Health) -> None:
    assert qubrid_health(status, model_status) is health


@pytest.mark.parametrize(
    ("status", "health"),
    [
        ("STATUS_QUEUED", H.PENDING),
        ("STATUS_PAUSED", H.PENDING),
        ("STATUS_FINETUNING", H.PROGRESSING),
        ("STATUS_DEPLOYING_API", H.PROGRESSING),
        ("STATUS_READY", H.HEALTHY),
        ("READY", H.HEALTHY),
        ("status_ready", H.HEALTHY),
        ("STATUS_FAILED", H.DEGRADED),
        ("STATUS_TEMPORARILY_OFFLINE", H.DEGRADED),
        ("STATUS_DELETED", H.MISSING),
        ("STATUS_UNSPECIFIED", H.UNKNOWN),
        ("STATUS_SOMETHING", H.UNKNOWN),
    ],
)
def test_cohere(status: str, health: Health) -> None:
    assert cohere_health(status) is health


def test_dispatch_by_provider() -> None:
    assert PROFILES["segmind"].health("AVAILABLE") is H.HEALTHY
    assert PROFILES["qubrid"].health("completed", "deleted") is H.MISSING
    assert PROFILES["cohere"].health("STATUS_FAILED") is H.DEGRADED


@given(st.sampled_from(["segmind", "qubrid", "cohere"]), st.text(), st.none() | st.text())
def test_any_status_maps_to_some_health(provider: str, status: str, model: str | None) -> None:
    assert isinstance(PROFILES[provider].health(status, model), Health)  # type: ignore[index]


def test_health_is_ordered_best_to_worst() -> None:
    assert [h.value for h in sorted(Health, key=lambda h: h.severity)] == [
        "Healthy",
        "Progressing",
        "Pending",
        "Degraded",
        "Missing",
        "Unknown",
    ]
    assert worst_health([H.HEALTHY, H.DEGRADED, H.PROGRESSING]) is H.DEGRADED
    assert worst_health([]) is H.HEALTHY
    assert not H.MISSING.is_live and H.DEGRADED.is_live
