"""Scoped plans (``--target``, some PATHs) and what a stale plan says moved, on the pure diff.

A scoped plan plans only its specs; this repository's other jobs are counted as not targeted,
never unmanaged nor deleted. A saved plan's items (``Plan.snapshot_items``) against the items
of now name the spec, the dataset or the remote job that moved; its origin against the run's
names the target or the paths.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.action import Action
from reconciler.core.plan import PlanOrigin
from reconciler.diff import plan
from reconciler.diff.snapshot import snapshot_items, snapshot_parts
from reconciler.diff.staleness import (
    MAX_REASONS,
    items_moved,
    paths_moved,
    stale_message,
    target_moved,
)
from tests.support.diff_builders import FP_A, FP_B, desired, job, observed, options, spec

SPECS = [desired(spec("a")), desired(spec("b")), desired(spec("c", "cohere"))]
JOBS = (job("a"), job("b"), job("c", "cohere"), job("gone"))


def test_a_plan_of_every_spec_lists_a_job_no_spec_names_as_unmanaged() -> None:
    made = plan(SPECS, observed(*JOBS), options())
    assert [j.name for j in made.unmanaged] == ["gone"]
    assert made.not_targeted == ()


@pytest.mark.parametrize(
    "scope", [{"targets": frozenset({"a"})}, {"partial": True}], ids=["target", "paths"]
)
def test_a_scoped_plan_counts_the_other_jobs_and_never_lists_or_deletes_them(
    scope: dict[str, object],
) -> None:
    wanted = SPECS if "targets" in scope else SPECS[:1]
    made = plan(wanted, observed(*JOBS), options(**scope))
    assert [(c.action, c.name) for c in made.changes] == [(Action.NOOP, "a")]
    assert made.unmanaged == ()
    assert made.not_targeted == (("cohere", "c"), ("segmind", "b"), ("segmind", "gone"))


def test_a_targeted_spec_with_no_job_yet_is_still_counted_when_left_out() -> None:
    made = plan(SPECS, observed(), options(targets=frozenset({"b"})))
    assert [(c.action, c.name) for c in made.changes] == [(Action.CREATE, "b")]
    assert made.not_targeted == (("cohere", "c"), ("segmind", "a"))


def test_a_left_out_spec_does_not_enter_the_snapshot() -> None:
    chosen = options(targets=frozenset({"a"}))
    before = plan(SPECS, observed(*JOBS), chosen)
    edited = [SPECS[0], desired(spec("b"), fingerprint=FP_B), SPECS[2]]
    assert plan(edited, observed(*JOBS), chosen).snapshot == before.snapshot


# --- what moved ------------------------------------------------------------------------------


def moved_between(before: list[object], after: list[object]) -> list[str]:
    state_before, state_after = before
    desired_before, desired_after = after
    saved = snapshot_items(*snapshot_parts(desired_before, state_before, options()))  # type: ignore[arg-type]
    now = snapshot_items(*snapshot_parts(desired_after, state_after, options()))  # type: ignore[arg-type]
    return items_moved(saved, now)


def test_nothing_moved_says_nothing() -> None:
    state = observed(*JOBS)
    assert moved_between([state, state], [SPECS, SPECS]) == []


def test_a_spec_edit_names_the_spec() -> None:
    state = observed(*JOBS)
    edited = [desired(spec("a", parameters={"iterations": 500})), *SPECS[1:]]
    assert moved_between([state, state], [SPECS, edited]) == ["the spec segmind a changed"]


def test_a_dataset_edit_names_the_spec_whose_dataset_it_is() -> None:
    state = observed(*JOBS)
    edited = [desired(spec("a"), fingerprint=FP_B), *SPECS[1:]]
    assert moved_between([state, state], [SPECS, edited]) == [
        "the dataset of spec segmind a changed"
    ]
    assert FP_A != FP_B


def test_a_remote_change_names_the_job_and_appearing_or_vanishing_jobs_too() -> None:
    before = observed(*JOBS)
    failed = replace(JOBS[0], raw_status="FAILED", health=JOBS[0].health.DEGRADED)
    after = observed(failed, JOBS[1], JOBS[2], job("new"))
    moved = moved_between([before, after], [SPECS, SPECS])
    assert moved == [
        f"the remote job team--a (segmind {JOBS[0].remote_id}) changed",
        f"the remote job team--gone (segmind {JOBS[3].remote_id}) is gone",
        f"a remote job appeared: team--new (segmind {job('new').remote_id})",
    ]


def test_a_spec_added_or_removed_is_said_once_with_its_dataset() -> None:
    state = observed(*JOBS)
    assert moved_between([state, state], [SPECS, SPECS[:2]]) == [
        "the spec cohere c is no longer planned"
    ]
    assert moved_between([state, state], [SPECS[1:], SPECS]) == [
        "the spec segmind a is planned now and was not then"
    ]


SANDBOX = PlanOrigin(sandbox=True, paths=("specs",))
REAL = PlanOrigin(
    sandbox=False,
    hosts=(("cohere", "api.cohere.com"), ("segmind", "api.segmind.com")),
    paths=("specs",),
)


def test_the_target_moved_from_the_sandbox_to_the_providers_and_back() -> None:
    assert target_moved(SANDBOX, REAL) == (
        "it was made for the sandbox (--sandbox), and is applied against cohere at"
        " api.cohere.com, segmind at api.segmind.com"
    )
    assert target_moved(REAL, SANDBOX) == (
        "it was made for cohere at api.cohere.com, segmind at api.segmind.com, and is applied"
        " against the sandbox (--sandbox)"
    )
    elsewhere = replace(REAL, hosts=(("cohere", "api.cohere.com"), ("segmind", "proxy:8443")))
    assert target_moved(REAL, elsewhere) == (
        "it was made for segmind at api.segmind.com, and is applied against segmind at proxy:8443"
    )
    assert target_moved(REAL, REAL) is None
    assert target_moved(None, REAL) is None  # not recorded: said apart, the rest checked


def test_the_paths_moved() -> None:
    some = replace(REAL, paths=("specs/a.yaml",))
    assert paths_moved(some, REAL) == (
        "it was made for paths specs/a.yaml, and is now run for specs"
    )
    assert paths_moved(REAL, REAL) is None and paths_moved(None, REAL) is None


def test_the_message_says_a_few_reasons_and_counts_the_rest() -> None:
    reasons = [f"the spec segmind s{i} changed" for i in range(MAX_REASONS + 3)]
    message = stale_message(reasons)
    assert message.startswith("the saved plan is stale: the spec segmind s0 changed;")
    assert f"the spec segmind s{MAX_REASONS - 1} changed; and 3 more;" in message
    assert f"s{MAX_REASONS} " not in message
    assert message.endswith(
        "make a new plan with `reconcile plan --out FILE`, review it, and apply that"
    )
