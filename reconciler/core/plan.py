"""The plan as a value: one ``Change`` per job (its ``Action``, why, and everything apply needs
to take it, or the ``Blocker`` that stops it), the options a plan is made with (``PlanOptions``,
``Guardrails``) and the ``Plan`` itself with its summary. A plan carries everything an apply
needs, so one saved by ``reconcile plan --out`` (``reconciler.planfile``) is applied later as
it was reviewed. A ``Reconciliation`` is a plan with the inputs it was made from. Frozen
values; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from reconciler.core.action import Action
from reconciler.core.observed import Health, ObservedJob, ObservedState, RemoteDataset
from reconciler.core.spec import DesiredJob, Provider


class BlockKind(StrEnum):
    """Why a change will not be applied."""

    NEEDS_ALLOW_REPLACE = "needs_allow_replace"  # replace without --allow-replace
    NOT_SUPPORTED = "not_supported"  # the provider has no way to do it (Segmind delete): a warning
    INCOMPLETE_OBSERVATION = "incomplete_observation"  # the provider's list was not fully read
    UNOWNED_NAMESAKE = "unowned_namesake"  # a job of this name without our owner: adopt or rename
    UNCONFIRMED = "unconfirmed"  # an earlier create's outcome is not known yet
    GUARDRAIL = "guardrail"  # the plan creates, replaces or deletes more than the limits allow
    PREVENT_DESTROY = "prevent_destroy"  # the spec's lifecycle forbids replacing or deleting
    PROVIDER_REFUSED = "provider_refused"  # the provider refuses the service (said once, above)


@dataclass(frozen=True)
class Blocker:
    """A change the plan shows but apply will not perform, with what the user can do.
    ``until`` (seconds since the epoch) is when it lifts by itself, if it does (an unconfirmed
    create, once its settle window has passed)."""

    kind: BlockKind
    reason: str
    fix: str
    until: float | None = None

    @property
    def is_warning(self) -> bool:
        """A change nobody can make (a delete the provider does not offer): reported with what
        to do, but not an error, or every run would fail until someone acts in a console."""
        return self.kind is BlockKind.NOT_SUPPORTED


class DeleteMethod(StrEnum):
    """How a delete is carried out on its provider (Segmind has none)."""

    CANCEL_JOB = "cancel_job"  # Qubrid, queued or running: POST .../jobs/{id}/cancel
    DELETE_MODEL = "delete_model"  # Qubrid completed: DELETE .../models/{id}; Cohere: DELETE model


@dataclass(frozen=True)
class FieldChange:
    """One compared field that differs: its dotted path and both sides, as JSON values."""

    path: str
    remote: Any
    desired: Any


@dataclass(frozen=True)
class Upload:
    """A local dataset to upload before a create: where it is, what it weighs, what it is,
    and the names it takes remotely (``remote_name`` is the dataset name the provider stores
    and lists, ``file_name`` the file name sent with it)."""

    path: Path
    size: int
    fingerprint: str
    remote_name: str
    file_name: str


@dataclass(frozen=True)
class Change:
    """The one action a plan takes for one job, and everything apply needs to take it.

    - create/replace: ``desired`` is the job to submit; its dataset comes from ``upload``
      (upload first), ``reuse`` (an already uploaded dataset with the same marker) or, when
      both are ``None``, the spec's own ``{url:}``/``{id:}``. A replace submits a new job under
      the same name; the job it supersedes (``current``) stays as history.
    - update: ``target_id`` is the job whose access flips to ``desired.spec.access``.
    - delete: ``target_id`` is what ``delete_method`` addresses (job id or model id).
    - noop: ``current`` and ``health`` say how the job is doing.

    ``reason`` is for display only; apply acts on the other fields. ``blocked`` set means
    apply skips the change and reports it.
    """

    action: Action
    provider: Provider
    name: str
    reason: str
    field_changes: tuple[FieldChange, ...] = ()
    desired: DesiredJob | None = None
    current: ObservedJob | None = None
    history: tuple[str, ...] = ()  # remote ids of older jobs of the same name
    health: Health | None = None
    upload: Upload | None = None
    reuse: RemoteDataset | None = None
    target_id: str | None = None
    delete_method: DeleteMethod | None = None
    blocked: Blocker | None = None

    @property
    def in_sync(self) -> bool:
        """``reconcile status``'s Synced (true) or OutOfSync (false)."""
        return self.action is Action.NOOP

    @property
    def sort_key(self) -> tuple[str, str, str]:
        remote = self.current.remote_id if self.current else ""
        return (self.provider, self.name, remote)


# Default limits on what one plan may do (``guardrails`` in reconciler.yaml). A reviewed pull
# request rarely adds more than a few dozen jobs; a plan far larger is more likely a mistake (a
# copied folder, a changed owner, a renamed spec tree) than intent, and each create is a paid
# training. Replaces and deletes are rarer still and cannot be undone.
DEFAULT_MAX_CREATES = 50
DEFAULT_MAX_REPLACES = 10
DEFAULT_MAX_DELETES = 10


@dataclass(frozen=True)
class Guardrails:
    """The most creates, replaces and deletes one plan may hold; a plan over any of them is
    blocked as a whole."""

    max_creates: int = DEFAULT_MAX_CREATES
    max_replaces: int = DEFAULT_MAX_REPLACES
    max_deletes: int = DEFAULT_MAX_DELETES

    def limit_of(self, action: Action) -> int | None:
        return {
            Action.CREATE: self.max_creates,
            Action.REPLACE: self.max_replaces,
            Action.DELETE: self.max_deletes,
        }.get(action)


@dataclass(frozen=True)
class PlanOptions:
    """What shapes a plan besides the specs and the providers: ``owner`` is the repository's
    owner id (only jobs carrying it are its own); ``prune`` deletes its jobs no spec names,
    ``allow_replace`` lets a replace through, ``retry_failed`` resubmits failed jobs;
    ``guardrails`` bound what one plan may do; ``forget`` names jobs (provider, spec name) the
    repository stops tracking; ``settle_window`` is how long (seconds) after a create the
    providers' lists may still not show it.

    ``targets`` (``--target``) names the only specs planned (none: every spec found);
    ``partial`` says the specs found are only some of the repository's (some PATHs). Either
    way a job of this repository that no planned spec names may belong to a spec left out: it
    is counted as not targeted, never listed as unmanaged nor deleted."""

    owner: str | None = None
    prune: bool = False
    allow_replace: bool = False
    retry_failed: bool = False
    guardrails: Guardrails = Guardrails()
    forget: frozenset[tuple[Provider, str]] = frozenset()
    settle_window: float = 300.0
    targets: frozenset[str] = frozenset()
    partial: bool = False

    @property
    def scoped(self) -> bool:
        """Whether the plan covers only some of the repository's specs."""
        return self.partial or bool(self.targets)

    def targeted(self, name: str) -> bool:
        """Whether the spec ``name`` is planned."""
        return not self.targets or name in self.targets


@dataclass(frozen=True)
class PlanSummary:
    """Counts for the summary line. ``blocked`` counts changes of any action that will not be
    applied, and the action counts include them; ``warnings`` counts what nobody can do (a
    delete the provider does not offer), which neither the action counts nor ``blocked``
    include."""

    create: int
    update: int
    replace: int
    delete: int
    noop: int
    blocked: int
    warnings: int = 0
    not_planned: int = 0  # specs of providers that could not be read (IncompleteProvider)

    @property
    def has_changes(self) -> bool:
        return self.create + self.update + self.replace + self.delete > 0


@dataclass(frozen=True)
class IncompleteProvider:
    """A provider whose observation was incomplete, and why. ``refused``: the provider refuses
    the whole service, and ``error`` is its one message (shown once; each blocked change of
    that provider only points at it). ``not_planned``: the names of its specs the plan holds
    no change for, since deciding one would rest on jobs nobody saw (a create would claim
    that no remote job has the name)."""

    provider: Provider
    error: str
    refused: bool = False
    not_planned: tuple[str, ...] = ()


T = TypeVar("T")


class _Deferred(Generic[T]):
    """A value not made yet: the function that makes it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self.make = make


_NO_DEFAULT: Any = object()


class Lazy(Generic[T]):
    """A dataclass field holding a value given as it is or as a function that makes it,
    called on the first read (and only then).

    For a value that is costly to compute and seldom read: ``Plan.snapshot`` hashes every
    observed job, but only a saved plan, JSON output and ``apply --plan`` read it. The field
    reads as a plain value, and equality, ``repr`` and ``replace`` see that value. ``default``
    is the field's default (none: the field must be given).
    """

    def __init__(self, default: T = _NO_DEFAULT) -> None:
        self._default = default

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._attribute = f"_{name}_value"

    def __get__(self, instance: object | None, owner: type[Any]) -> T:
        if instance is None:
            # What a dataclass asks to find a default.
            if self._default is _NO_DEFAULT:
                raise AttributeError(self._attribute)
            return self._default
        value: T | _Deferred[T] = instance.__dict__[self._attribute]
        if isinstance(value, _Deferred):
            value = value.make()
            instance.__dict__[self._attribute] = value
        return value

    def __set__(self, instance: object, value: T | Callable[[], T]) -> None:
        # Reached only from the dataclass's own __init__: a frozen instance refuses setattr.
        # No value a plan holds lazily (text, a mapping) is callable.
        made = _Deferred(value) if callable(value) else value
        instance.__dict__[self._attribute] = made


@dataclass(frozen=True)
class PlanOrigin:
    """What a plan was made for, so that ``apply --plan`` can say so when it is run for
    something else: the embedded emulator (``sandbox``, ``--sandbox``) or the providers at
    ``hosts`` (each provider's base URL host, never a key, path or query), and the spec
    ``paths`` given (relative to the repository root, ``/``-separated; the configured spec
    paths when none were given)."""

    sandbox: bool
    hosts: tuple[tuple[Provider, str], ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A reconciliation as a value: one ``Change`` per managed job (sorted by provider, name,
    remote id), the remote jobs no spec names (``unmanaged``), the options it was made with,
    and ``snapshot``: a sha256 over the specs, their dataset fingerprints and the observed
    remote state, which ``apply --plan`` recomputes to refuse a stale plan, and
    ``snapshot_items``: a short hash per item the snapshot covers, by a key naming the item
    (``spec segmind mascot``), sorted, from which ``apply --plan`` says what moved. Both may
    be given as a function that computes them: they are then computed when first read (a plan
    read from an older file has no items: ``()``).

    ``made_for`` is what the plan was made for (``None``: not recorded, an older plan file);
    ``not_targeted`` the jobs (provider, spec name) of this repository left out of a scoped
    plan (``PlanOptions.scoped``): specs not targeted, and jobs no planned spec names."""

    changes: tuple[Change, ...]
    unmanaged: tuple[ObservedJob, ...]
    options: PlanOptions
    snapshot: Lazy[str] = Lazy()
    incomplete: tuple[IncompleteProvider, ...] = ()
    snapshot_items: Lazy[tuple[tuple[str, str], ...]] = Lazy(())
    made_for: PlanOrigin | None = None
    not_targeted: tuple[tuple[Provider, str], ...] = ()

    @property
    def summary(self) -> PlanSummary:
        counts = dict.fromkeys(Action, 0)
        blocked = warnings = 0
        for change in self.changes:
            if change.blocked is not None and change.blocked.is_warning:
                warnings += 1
                continue
            counts[change.action] += 1
            blocked += change.blocked is not None
        return PlanSummary(
            create=counts[Action.CREATE],
            update=counts[Action.UPDATE],
            replace=counts[Action.REPLACE],
            delete=counts[Action.DELETE],
            noop=counts[Action.NOOP],
            blocked=blocked,
            warnings=warnings,
            not_planned=sum(len(incomplete.not_planned) for incomplete in self.incomplete),
        )

    @property
    def warnings(self) -> tuple[Change, ...]:
        """The changes nobody can make, reported with what to do (``Blocker.is_warning``)."""
        return tuple(c for c in self.changes if c.blocked is not None and c.blocked.is_warning)

    @property
    def errors(self) -> tuple[Change, ...]:
        """The changes that will not be applied for a reason someone must act on (exit 1)."""
        return tuple(c for c in self.changes if c.blocked is not None and not c.blocked.is_warning)

    @property
    def actionable(self) -> tuple[Change, ...]:
        """The changes apply performs: not noops, not blocked."""
        return tuple(c for c in self.changes if c.action is not Action.NOOP and c.blocked is None)


@dataclass(frozen=True)
class Reconciliation:
    """One planning run: the plan, and the desired jobs and observation it was made from (a
    converge reads the observation's recent writes, and a saved plan's staleness is judged
    against both)."""

    plan: Plan
    desired: tuple[DesiredJob, ...]
    observed: ObservedState
