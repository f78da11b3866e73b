"""`reconcile status` when a provider could not be read: its specs have no change in the plan
(nothing about their jobs was seen), yet each is still listed, as managed with Unknown health
and the reason, in the plan's order."""

from __future__ import annotations

from reconciler.core.observed import Health
from reconciler.diff import plan
from reconciler.status import Sync, job_statuses
from tests.support.diff_builders import desired, job, observed, options, spec


def test_the_specs_of_an_unread_provider_are_listed_with_unknown_health() -> None:
    specs = [desired(spec("b")), desired(spec("a")), desired(spec("c", "cohere"))]
    result = plan(specs, observed(job("x", "cohere"), incomplete={"segmind": "no key"}), options())
    assert [c.name for c in result.changes] == ["c"]
    statuses = job_statuses(result)
    assert [(s.provider, s.name) for s in statuses] == [
        ("cohere", "c"),
        ("segmind", "a"),
        ("segmind", "b"),
    ]
    for status in statuses[1:]:
        assert (status.sync, status.health) == (Sync.OUT_OF_SYNC, Health.UNKNOWN)
        assert status.remote_id is None
        assert status.detail == "not planned: segmind could not be read"
