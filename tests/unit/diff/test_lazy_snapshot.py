"""A plan's snapshot is worked out only when read, and is then the one ``snapshot_of`` gives."""

from __future__ import annotations

import json

from reconciler.core.plan import Plan, PlanOptions
from reconciler.diff import plan, snapshot_of
from reconciler.planfile import plan_from_dict, plan_to_dict
from tests.support.snapshots import desired, observed, reference_snapshot


def test_a_function_given_as_snapshot_runs_once_and_only_when_read() -> None:
    calls: list[str] = []

    def compute() -> str:
        calls.append("called")
        return "f" * 64

    lazy = Plan(changes=(), unmanaged=(), options=PlanOptions(), snapshot=compute)
    assert calls == []
    assert lazy.snapshot == "f" * 64
    assert lazy.snapshot == "f" * 64
    assert calls == ["called"]
    eager = Plan(changes=(), unmanaged=(), options=PlanOptions(), snapshot="f" * 64)
    assert lazy == eager
    assert repr(lazy) == repr(eager)


def test_the_plan_s_snapshot_is_the_full_one_and_survives_the_plan_file() -> None:
    options = PlanOptions(prune=True)
    made = plan(desired(), observed(), options)
    expected = reference_snapshot(desired(), observed(), options)
    assert snapshot_of(desired(), observed(), options) == expected
    assert made.snapshot == expected
    saved = json.loads(json.dumps(plan_to_dict(made)))
    assert saved["snapshot"] == expected
    reread = plan_from_dict(saved)
    assert reread.snapshot == expected
    assert plan_to_dict(reread) == saved
