"""The diff's rules about whose jobs are whose and what one plan may spend: owner ids,
explicit adoption, per-spec lifecycle, guardrails, forgotten jobs and deletes nobody can make."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.action import Action
from reconciler.core.observed import (
    ObservedJob,
    ObservedState,
    RecentWrite,
    RemoteDataset,
    WriteState,
)
from reconciler.core.plan import BlockKind, Change, Guardrails, Plan
from reconciler.core.spec import Lifecycle, Provider
from reconciler.diff import guardrail_counts, plan, snapshot_of
from tests.support.diff_builders import (
    FP_A,
    FP_B,
    OWNER,
    desired,
    job,
    observed,
    options,
    qubrid_dataset,
    spec,
)

PROVIDERS: list[Provider] = ["segmind", "qubrid", "cohere"]


def only(result: Plan) -> Change:
    assert len(result.changes) == 1, result.changes
    return result.changes[0]


def remote(
    name: str, provider: Provider, owner: str | None, **fields: object
) -> tuple[ObservedJob, list[RemoteDataset]]:
    """A job of ``owner`` and, for Qubrid, the listed dataset that names it."""
    if provider != "qubrid":
        return job(name, provider, owner=owner, **fields), []  # type: ignore[arg-type]
    listed = replace(qubrid_dataset(name, FP_A, owner=owner), remote_id=f"ds-{name}-{owner}")
    made = job(name, provider, dataset_ref=listed.remote_id, **fields)  # type: ignore[arg-type]
    return made, [listed]


# --- two repositories on one account -------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_job_of_another_repository_with_the_specs_name_is_not_this_specs(
    provider: Provider,
) -> None:
    theirs, datasets = remote("mascot", provider, "other", remote_id="theirs")
    result = plan(
        [desired(spec(provider=provider))], observed(theirs, datasets=datasets), options()
    )
    change = only(result)
    assert change.action is Action.CREATE and change.blocked is None
    assert [j.remote_id for j in result.unmanaged] == ["theirs"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_two_repositories_each_pair_with_their_own_job_of_one_name(provider: Provider) -> None:
    mine, my_datasets = remote("mascot", provider, OWNER, remote_id="mine")
    theirs, their_datasets = remote("mascot", provider, "other", remote_id="theirs")
    state = observed(mine, theirs, datasets=[*my_datasets, *their_datasets])
    ours = only(plan([desired(spec(provider=provider))], state, options()))
    assert ours.action is Action.NOOP and ours.current is not None
    assert ours.current.remote_id == "mine"
    other_repo = plan(
        [desired(spec(provider=provider), owner="other")], state, options(owner="other")
    )
    assert only(other_repo).current is not None
    assert only(other_repo).current.remote_id == "theirs"  # type: ignore[union-attr]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_prune_in_one_repository_reaches_only_its_own_jobs(provider: Provider) -> None:
    status = "running" if provider == "qubrid" else None
    mine, my_datasets = remote("old", provider, OWNER, remote_id="mine", status=status)
    theirs, their_datasets = remote("old", provider, "other", remote_id="theirs", status=status)
    state = observed(mine, theirs, datasets=[*my_datasets, *their_datasets])
    result = plan([], state, options(prune=True))
    (change,) = result.changes
    assert change.action is Action.DELETE and change.current is not None
    assert change.current.remote_id == "mine"
    assert [j.remote_id for j in result.unmanaged] == ["theirs"]


def test_a_job_of_another_owner_is_shown_by_its_remote_name() -> None:
    theirs, _ = remote("mascot", "cohere", "other")
    (listed,) = plan([], observed(theirs), options()).unmanaged
    assert listed.remote_name == "other--mascot"


# --- jobs without an owner: adoption is explicit ---------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_live_job_of_the_specs_name_without_an_owner_blocks_the_create(
    provider: Provider,
) -> None:
    legacy, datasets = remote("mascot", provider, None, remote_id="legacy-1")
    change = only(
        plan([desired(spec(provider=provider))], observed(legacy, datasets=datasets), options())
    )
    assert change.action is Action.CREATE
    assert change.blocked is not None and change.blocked.kind is BlockKind.UNOWNED_NAMESAKE
    assert "adopt: [legacy-1]" in change.blocked.fix
    assert "another name" in change.blocked.fix


def test_a_deleted_namesake_does_not_block() -> None:
    legacy, _ = remote("mascot", "cohere", None, status="STATUS_DELETED")
    change = only(plan([desired(spec(provider="cohere"))], observed(legacy), options()))
    assert change.action is Action.CREATE and change.blocked is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_adopted_job_is_managed_like_one_the_repository_made(provider: Provider) -> None:
    legacy, datasets = remote("mascot", provider, None, remote_id="legacy-1")
    adopting = spec(provider=provider, adopt=("legacy-1",))
    result = plan([desired(adopting)], observed(legacy, datasets=datasets), options())
    change = only(result)
    assert change.action is Action.NOOP
    assert change.current is not None and change.current.remote_id == "legacy-1"
    assert result.unmanaged == ()


def test_an_adopted_job_is_compared_and_replaced_through_the_spec() -> None:
    legacy, _ = remote("mascot", "cohere", None, remote_id="legacy-1", base_model="old-model")
    adopting = spec(provider="cohere", adopt=("legacy-1",))
    change = only(plan([desired(adopting)], observed(legacy), options(allow_replace=True)))
    assert change.action is Action.REPLACE and change.blocked is None
    assert [f.path for f in change.field_changes] == ["base_model"]


def test_an_adopted_job_whose_spec_is_gone_is_never_pruned() -> None:
    legacy, _ = remote("mascot", "cohere", None, remote_id="legacy-1")
    result = plan([], observed(legacy), options(prune=True))
    assert result.changes == ()


def test_without_an_owner_jobs_without_one_pair_as_before() -> None:
    legacy, _ = remote("mascot", "cohere", None)
    change = only(
        plan([desired(spec(provider="cohere"), owner=None)], observed(legacy), options(owner=None))
    )
    assert change.action is Action.NOOP


# --- lifecycle -----------------------------------------------------------------------------


def _changed_dataset(**lifecycle: bool) -> Change:
    ours = job("mascot", "cohere", fingerprint=FP_B)
    the_spec = spec(provider="cohere", lifecycle=Lifecycle(**lifecycle))
    return only(plan([desired(the_spec)], observed(ours), options()))


def test_a_spec_may_allow_its_own_replace() -> None:
    assert _changed_dataset().blocked is not None
    change = _changed_dataset(allow_replace=True)
    assert change.action is Action.REPLACE and change.blocked is None


def test_prevent_destroy_blocks_a_replace_even_with_allow_replace() -> None:
    change = _changed_dataset(prevent_destroy=True, allow_replace=True)
    assert change.blocked is not None and change.blocked.kind is BlockKind.PREVENT_DESTROY
    ours = job("mascot", "cohere", fingerprint=FP_B)
    the_spec = spec(provider="cohere", lifecycle=Lifecycle(prevent_destroy=True))
    flagged = only(plan([desired(the_spec)], observed(ours), options(allow_replace=True)))
    assert flagged.blocked is not None and flagged.blocked.kind is BlockKind.PREVENT_DESTROY


def test_prevent_destroy_still_lets_a_failed_job_be_retried() -> None:
    failed = job("mascot", "cohere", status="STATUS_FAILED")
    the_spec = spec(provider="cohere", lifecycle=Lifecycle(prevent_destroy=True))
    change = only(plan([desired(the_spec)], observed(failed), options(retry_failed=True)))
    assert change.action is Action.REPLACE and change.blocked is None


# --- deletes nobody can make, and forgotten jobs --------------------------------------------


def test_a_segmind_job_to_prune_is_a_warning_not_an_error() -> None:
    result = plan([], observed(job("old")), options(prune=True))
    change = only(result)
    assert change.blocked is not None and change.blocked.is_warning
    assert "forget" in change.blocked.fix and "Segmind console" in change.blocked.fix
    summary = result.summary
    assert (summary.delete, summary.blocked, summary.warnings) == (0, 0, 1)
    assert not summary.has_changes
    assert result.errors == () and result.warnings == (change,)


def test_a_forgotten_job_is_neither_deleted_nor_warned_about() -> None:
    forget = frozenset({("segmind", "old"), ("cohere", "gone")})
    state = observed(job("old"), job("gone", "cohere"), job("kept", "cohere"))
    result = plan([], state, options(prune=True, forget=forget))
    assert [(c.provider, c.name) for c in result.changes] == [("cohere", "kept")]
    assert sorted(j.name or "" for j in result.unmanaged) == ["gone", "old"]


# --- guardrails ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "action"),
    [
        (Guardrails(max_creates=2), Action.CREATE),
        (Guardrails(max_replaces=0), Action.REPLACE),
        (Guardrails(max_deletes=0), Action.DELETE),
    ],
)
def test_a_plan_over_a_limit_is_blocked_as_a_whole(limits: Guardrails, action: Action) -> None:
    specs = [desired(spec(name, "cohere")) for name in ("a", "b", "c", "changed")]
    state = observed(
        job("changed", "cohere", fingerprint=FP_B),
        job("orphan", "cohere"),
        job("in-sync", "cohere"),
    )
    specs.append(desired(spec("in-sync", "cohere")))
    within = plan(specs, state, options(prune=True, allow_replace=True))
    assert all(c.blocked is None for c in within.changes)
    result = plan(specs, state, options(prune=True, allow_replace=True, guardrails=limits))
    acting = [c for c in result.changes if c.action is not Action.NOOP]
    assert {c.action for c in acting} == {Action.CREATE, Action.REPLACE, Action.DELETE}
    for change in acting:
        assert change.blocked is not None and change.blocked.kind is BlockKind.GUARDRAIL
    # The counts a plan shows against its limits are what it would do but for them.
    assert guardrail_counts(result.changes) == guardrail_counts(within.changes)
    noun = {Action.CREATE: "create", Action.REPLACE: "replace", Action.DELETE: "delete"}[action]
    blocker = acting[0].blocked
    assert blocker is not None
    assert f"guardrails.max_{noun}s" in blocker.reason
    assert f"--max-{noun}s" in blocker.fix
    assert next(c for c in result.changes if c.action is Action.NOOP).blocked is None


def test_changes_blocked_for_another_reason_do_not_count_against_a_limit() -> None:
    legacy, _ = remote("a", "cohere", None)
    specs = [desired(spec("a", "cohere")), desired(spec("b", "cohere"))]
    result = plan(specs, observed(legacy), options(guardrails=Guardrails(max_creates=1)))
    kinds = {c.name: c.blocked.kind if c.blocked else None for c in result.changes}
    assert kinds == {"a": BlockKind.UNOWNED_NAMESAKE, "b": None}


# --- recent writes -------------------------------------------------------------------------


def _with_recent(listed_at: float, *writes: RecentWrite) -> ObservedState:
    state = observed()
    cohere = replace(state.providers["cohere"], started_at=listed_at, recent=writes)
    return ObservedState({**state.providers, "cohere": cohere})


def test_a_confirmed_recent_create_the_list_does_not_show_yet_is_not_made_again() -> None:
    write = RecentWrite("cohere", "mascot", Action.CREATE, WriteState.CONFIRMED, 1000.0, "m-1")
    change = only(plan([desired(spec(provider="cohere"))], _with_recent(1010.0, write), options()))
    assert change.action is Action.NOOP
    assert change.reason.startswith("created as m-1 at ")
    assert change.health is not None and change.health.value == "Pending"


def test_an_unknown_recent_create_blocks_until_a_list_a_window_later_lacks_it() -> None:
    write = RecentWrite("cohere", "mascot", Action.CREATE, WriteState.UNKNOWN, 1000.0)
    the_spec = desired(spec(provider="cohere"))
    held = only(plan([the_spec], _with_recent(1010.0, write), options(settle_window=300.0)))
    assert held.blocked is not None and held.blocked.kind is BlockKind.UNCONFIRMED
    assert held.blocked.until == 1300.0
    settled = only(plan([the_spec], _with_recent(1300.0, write), options(settle_window=300.0)))
    assert settled.action is Action.CREATE and settled.blocked is None


def test_a_listed_job_settles_a_recent_create() -> None:
    write = RecentWrite("cohere", "mascot", Action.CREATE, WriteState.UNKNOWN, 1000.0)
    listed = observed(job("mascot", "cohere", remote_id="m-1"))
    cohere = replace(listed.providers["cohere"], started_at=1010.0, recent=(write,))
    state = ObservedState({**listed.providers, "cohere": cohere})
    assert only(plan([desired(spec(provider="cohere"))], state, options())).action is Action.NOOP


def test_the_snapshot_sees_a_pending_write_but_not_one_past_its_window() -> None:
    the_spec = [desired(spec(provider="cohere"))]
    pending = RecentWrite("cohere", "mascot", Action.CREATE, WriteState.UNKNOWN, 1000.0)
    old = RecentWrite("cohere", "other", Action.CREATE, WriteState.CONFIRMED, 100.0, "m-0")
    chosen = options(settle_window=300.0)
    base = snapshot_of(the_spec, _with_recent(1010.0, pending), chosen)
    assert snapshot_of(the_spec, _with_recent(1010.0, pending, old), chosen) == base
    assert snapshot_of(the_spec, _with_recent(1010.0), chosen) != base
