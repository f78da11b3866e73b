"""A converge: plan, ask, take the writer lease, plan again under it, apply.

The one path from a plan to writes, for the command line's ``apply`` (and ``reconcile``) and
for the daemon, both handing it a run opened by ``reconciler.run`` (the ``Run`` protocol):

1. plan from the lists read while the specs were validated, with the journal of recent writes
   read without the lease. When an earlier create it must not repeat settles within
   ``MAX_SETTLE_WAIT_SECONDS`` (a short settle window, a run that died a moment ago), wait for
   that and plan again; then show it. Nothing to write (only noops, blocked changes,
   warnings): stop here, without ever taking the lease, unless a create is held back because
   another apply may be sending it right now (then the lease tells: wait for it, as in 3);
2. when the plan creates, replaces or deletes jobs, ``approve`` it (a person at a terminal
   answers ``yes``; CI, the daemon and ``--auto-approve`` pass none);
3. take the writer lease (``Run.writer``; waiting up to ``lock_timeout``), then list every
   provider again and plan again with the journal the lease carries: only lists read while no
   other machine can write are acted on (settling first again, as in 1). A saved plan
   (``apply --plan``) must have been made for the same target (``check_target``, before
   step 1) and still match (``check_not_stale``; else ``StalePlanError`` saying what moved);
   otherwise a plan that now spends on anything the approved one did not is shown and
   approved again;
4. carry out that plan (``reconciler.apply.executor``) with the lease guarding every write,
   and release the lease with the journal of this run's creates.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.apply.executor import ApplyExecutor, apply_plan
from reconciler.apply.writer import Writer
from reconciler.config import Settings
from reconciler.core.action import Action
from reconciler.core.observed import ObservedState, RecentWrite, WriteState
from reconciler.core.outcome import ApplyResult
from reconciler.core.plan import BlockKind, Plan, PlanOrigin, Reconciliation
from reconciler.core.spec import DesiredJob, Provider
from reconciler.diff.snapshot import snapshot_digest, snapshot_items, snapshot_parts
from reconciler.diff.staleness import items_moved, paths_moved, stale_message, target_moved
from reconciler.progress import NO_PROGRESS, ApplyProgress
from reconciler.providers.base import ProviderClient

SPENDING = frozenset({Action.CREATE, Action.REPLACE, Action.DELETE})
# A run waits this long at most for an unconfirmed create to settle before it plans without
# it (then reported unconfirmed, for the next run to settle). Longer settle windows are left
# to the next run: a command should not sit for minutes waiting on a lost answer.
MAX_SETTLE_WAIT_SECONDS = 30.0
# Past a settle deadline, a little more so that the list surely begins after it.
_SETTLE_MARGIN_SECONDS = 0.5

Say = Callable[[str], None]
"""Tells the person (or the log) what the converge is waiting for."""

Approve = Callable[[Plan, bool], bool]
"""Asked with a plan that spends (and whether it is a second question, the first plan having
changed under the lease); returns whether to go on."""

Show = Callable[[Plan, str | None], None]
"""Shows a plan, with a note saying why it is shown again (``None`` the first time)."""


class Run(Protocol):
    """What a converge works with: an open run (``reconciler.run.Run``), which plans and holds
    the writer lease."""

    @property
    def settings(self) -> Settings: ...

    @property
    def desired(self) -> tuple[DesiredJob, ...]: ...

    @property
    def clients(self) -> Mapping[Provider, ProviderClient]: ...

    @property
    def made_for(self) -> PlanOrigin | None: ...

    def plan(
        self, recent: Sequence[RecentWrite] | None = None, *, fresh: bool = False
    ) -> Reconciliation: ...

    def writer(self, wait: float | None = None) -> contextlib.AbstractContextManager[Writer]: ...


class DeclinedError(Exception):
    """The plan was not approved: nothing was sent."""


class StalePlanError(Exception):
    """A saved plan no longer matches the specs, the datasets or the remote state, or is
    applied against another target than it was made for; the message says what moved."""


@dataclass(frozen=True)
class Converged:
    """What a converge did: the plan it carried out (the one made under the lease when it
    wrote, the first one when there was nothing to write) and the result."""

    plan: Plan
    result: ApplyResult
    wrote: bool


def spending(plan: Plan) -> frozenset[tuple[Action, str, str]]:
    """The creates, replaces and deletes ``plan`` would carry out."""
    return frozenset(
        (change.action, change.provider, change.name)
        for change in plan.actionable
        if change.action in SPENDING
    )


def converge(
    run: Run,
    *,
    parallelism: int,
    progress: ApplyProgress = NO_PROGRESS,
    saved: Plan | None = None,
    approve: Approve | None = None,
    show: Show | None = None,
    say: Say | None = None,
    lock_wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Converged:
    """Converge ``run`` (see the module docstring); ``saved`` is a reviewed plan to apply
    exactly. Raises ``DeclinedError`` when ``approve`` says no, ``StalePlanError`` when
    ``saved`` no longer matches, ``WriterUnavailableError`` when the lease cannot be taken."""
    first: Plan | None = None
    if saved is not None:
        check_target(saved, run.made_for, say)
    if saved is None:
        planned = settled(run, run.plan(), None, say, sleep)
        first = planned.plan
        if show is not None:
            show(first, None)
        if not first.actionable and not held_back_by_another_apply(planned):
            # Nothing will be sent: the blocked changes and warnings are reported all the same.
            executor = ApplyExecutor(run.clients, settle_window=first.options.settle_window)
            return Converged(first, executor.apply(first), wrote=False)
        if approve is not None and spending(first) and not approve(first, False):
            raise DeclinedError("nothing was sent")
    with run.writer(lock_wait) as writer:
        # Listed again, now that no other machine can write: the lists read earlier may
        # already be out of date.
        recent = writer.journal.writes()
        reconciliation = settled(run, run.plan(recent, fresh=True), recent, say, sleep)
        now = reconciliation.plan
        if saved is not None:
            check_not_stale(saved, run.desired, reconciliation.observed, run.made_for)
        elif first is not None and now.changes != first.changes:
            if show is not None:
                show(now, "the providers changed while the writer lease was taken; the plan is now")
            newly_spent = not spending(now) <= spending(first)
            if approve is not None and newly_spent and not approve(now, True):
                raise DeclinedError("nothing was sent")
        result = apply_plan(
            now,
            run.clients,
            parallelism=parallelism,
            progress=progress,
            guard=writer,
            confirm_wait=run.settings.confirm_wait,
        )
    return Converged(now, result, wrote=True)


def check_target(saved: Plan, now: PlanOrigin | None, say: Say | None = None) -> None:
    """Raises ``StalePlanError`` when ``saved`` was made for another target than ``now`` (the
    sandbox, or other providers' hosts): said before the writer lease is taken or anything
    planned (the lists read while the specs were validated are all that was sent). A plan file
    that does not record its target (an older reconcile's) is said to be so, then checked
    like any other by ``check_not_stale``."""
    if saved.made_for is None:
        if say is not None:
            say(
                "the plan file does not record what it was made for (an older reconcile wrote"
                " it): target unknown; checking that the specs, datasets and remote jobs are"
                " unchanged"
            )
        return
    if now is not None and (moved := target_moved(saved.made_for, now)) is not None:
        raise StalePlanError(stale_message([moved]))


def check_not_stale(
    saved: Plan,
    desired: Sequence[DesiredJob],
    observed: ObservedState,
    now: PlanOrigin | None = None,
) -> None:
    """Raises ``StalePlanError`` unless the world is as it was when ``saved`` was made,
    saying what moved: the spec paths (``now``, what the apply runs for), each spec, dataset
    and remote job that changed, appeared or went."""
    # Every job is encoded once, whether the digest matches or the items then say what moved.
    parts = snapshot_parts(desired, observed, saved.options)
    if snapshot_digest(*parts) == saved.snapshot:
        return
    reasons = []
    if now is not None and (moved := paths_moved(saved.made_for, now)) is not None:
        reasons.append(moved)
    if saved.snapshot_items:
        reasons.extend(items_moved(saved.snapshot_items, snapshot_items(*parts)))
    if not reasons:
        # An older plan file, without the items that say which: what might have moved.
        reasons.append(
            "the specs, the datasets or the remote jobs changed since it was made (this plan"
            " file does not record which)"
        )
    raise StalePlanError(stale_message(reasons))


def held_back_by_another_apply(reconciliation: Reconciliation) -> bool:
    """Whether a create of the plan is held back by a write another apply only intended: it
    may be at work right now, and once it has released the lease its journal says what became
    of them."""
    held = {
        (change.provider, change.name)
        for change in reconciliation.plan.changes
        if change.blocked is not None and change.blocked.kind is BlockKind.UNCONFIRMED
    }
    return any(
        write.state is WriteState.INTENDED and (write.provider, write.name) in held
        for observation in reconciliation.observed.providers.values()
        for write in observation.recent
    )


def settled(
    run: Run,
    reconciliation: Reconciliation,
    recent: Sequence[RecentWrite] | None,
    say: Say | None,
    sleep: Callable[[float], None] = time.sleep,
) -> Reconciliation:
    """``reconciliation``, or when its unconfirmed creates all settle within
    ``MAX_SETTLE_WAIT_SECONDS``, a new plan made once they have (lists requested afresh)."""
    until = [
        change.blocked.until
        for change in reconciliation.plan.changes
        if change.blocked is not None
        and change.blocked.kind is BlockKind.UNCONFIRMED
        and change.blocked.until is not None
    ]
    if not until:
        return reconciliation
    wait = max(until) - time.time() + _SETTLE_MARGIN_SECONDS
    if wait > MAX_SETTLE_WAIT_SECONDS:
        return reconciliation
    if say is not None:
        say(
            f"waiting {max(wait, 0.0):.0f} s for the providers' lists to settle"
            f" {len(until)} earlier create{'s' if len(until) != 1 else ''} whose outcome is not"
            " known yet, then planning again"
        )
    sleep(max(wait, 0.0))
    return run.plan(recent, fresh=True)
