"""The values the reconciler reasons about.

This module owns the vocabulary shared by every layer: what a spec says (``FineTuneSpec``),
where it came from (``SourceLocation``) and what its dataset is (``DatasetRef``). The plan
values (desired and observed jobs, actions, changes, the plan itself) join them here. All of
them are frozen dataclasses: a plan is a value that can be compared, serialised and applied
exactly. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, overload

from reconciler.redact import redact

Provider = Literal["segmind", "qubrid", "cohere"]
PROVIDERS: tuple[Provider, ...] = ("segmind", "qubrid", "cohere")


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where a spec (or one of its fields) was written: file, 1-based line and column."""

    file: Path
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class DatasetKind(StrEnum):
    """How a spec names its dataset."""

    FOLDER = "folder"  # a local folder of images, zipped deterministically (Segmind)
    FILE = "file"  # a local file: .zip (Segmind), .csv (Qubrid, Cohere), .jsonl (Cohere)
    URL = "url"  # {url: https://...}: already hosted, used as is (Segmind)
    ID = "id"  # {id: ...}: already uploaded to the provider (Qubrid, Cohere)


@dataclass(frozen=True)
class DatasetRef:
    """A spec's dataset. ``value`` is the absolute resolved path, the URL, or the remote id."""

    kind: DatasetKind
    value: str

    @property
    def is_local(self) -> bool:
        return self.kind in (DatasetKind.FOLDER, DatasetKind.FILE)

    @cached_property
    def path(self) -> Path:
        # Cached: the loader, the fingerprints, the diff and the renderers each ask for it,
        # for every spec. (It lives outside the fields, so equality and hashing ignore it.)
        if not self.is_local:
            raise ValueError(f"dataset {self.value!r} is not a local path")
        return Path(self.value)


@dataclass(frozen=True)
class Lifecycle:
    """A spec's own rules for its job (``lifecycle:`` in the spec): ``allow_replace`` lets a
    reviewed replace of this job run without ``--allow-replace``; ``prevent_destroy`` blocks any
    plan that would replace or delete it while the spec says so."""

    allow_replace: bool = False
    prevent_destroy: bool = False


@dataclass(frozen=True)
class FineTuneSpec:
    """One validated ``kind: FineTune`` document.

    Optional fields are ``None`` when the spec does not set them; ``set_fields`` names the
    top-level fields the document wrote explicitly, because the diff compares only those
    (a default the provider fills in is not drift). ``parameters`` holds exactly the keys the
    spec (or ``reconciler.yaml`` defaults) set, with their YAML values.
    """

    name: str
    provider: Provider
    base_model: str  # for Cohere, settings.base_model.name
    dataset: DatasetRef
    source: SourceLocation
    access: Literal["private", "public"] | None = None  # Segmind only
    trigger_word: str | None = None  # Segmind
    instance_prompt: str | None = None  # Segmind
    theme: str | None = None  # Segmind
    machine_type: str | None = None  # Segmind
    train_type: str | None = None  # Segmind
    task_type: Literal["qa", "not_qa"] | None = None  # Qubrid
    csv_columns: tuple[str, ...] | None = None  # Qubrid: the CSV columns the task type needs
    base_type: str | None = None  # Cohere: settings.base_model.base_type
    dataset_type: str | None = None  # Cohere: the Datasets API type, e.g. chat-finetune-input
    parameters: Mapping[str, Any] = field(default_factory=dict)
    wandb: Mapping[str, str] | None = None  # Cohere: {project, entity}; the key comes from env
    adopt: tuple[str, ...] = ()  # remote ids of jobs this spec takes over (explicit adoption)
    lifecycle: Lifecycle = Lifecycle()
    set_fields: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[Provider, str]:
        """The identity of a job: unique per provider across the repo."""
        return (self.provider, self.name)


# --- The plan vocabulary -------------------------------------------------------------------
#
# Everything below describes one reconciliation: what the repo wants (``DesiredJob``), what a
# provider's list endpoints showed (``ObservedJob``, ``RemoteDataset``, ``ObservedState``) and
# what to do about the difference (``Change``, ``Plan``). A ``Plan`` carries everything an
# apply needs, and its JSON form (``Plan.to_dict`` / ``Plan.from_dict``) round-trips exactly so
# that a plan saved by ``reconcile plan --out`` is applied later as it was reviewed.

# 2: jobs carry the repository's owner (the marker and the remote name), specs their
# ``adopt`` and ``lifecycle``; a plan of version 1 was made without owners and is refused.
PLAN_FORMAT_VERSION = 2


class PlanFileError(ValueError):
    """A saved plan that cannot be read: wrong format version, or a missing or mistyped key."""


class Health(StrEnum):
    """How a remote job is doing, ordered from best to worst (``severity``).

    ``Missing`` means the provider shows the job as deleted or cancelled: it no longer counts as
    the job a spec names. ``Unknown`` is a status this version does not recognise.
    """

    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    PENDING = "Pending"
    DEGRADED = "Degraded"
    MISSING = "Missing"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        return _HEALTH_ORDER.index(self)

    @property
    def is_live(self) -> bool:
        """Whether the job still exists as far as the plan is concerned (not deleted/cancelled)."""
        return self is not Health.MISSING


_HEALTH_ORDER: tuple[Health, ...] = tuple(Health)


def worst_health(healths: Iterable[Health]) -> Health:
    """The most severe of several healths (``Healthy`` for none), as a summary would show it."""
    return max(healths, key=lambda health: health.severity, default=Health.HEALTHY)


@dataclass(frozen=True)
class Marker:
    """What the name of a dataset we uploaded says: the spec name, the first 12 hex digits of
    the dataset's content fingerprint, and the owner id of the repository that uploaded it
    (``None`` where the name has no room for it, or from before owners); ``reconciler.naming``
    formats and parses it."""

    name: str
    fingerprint12: str
    owner: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.owner}--" if self.owner else ""
        return f"{prefix}{self.name}-rc{self.fingerprint12}"


def strip_url_secrets(url: str) -> str:
    """``url`` without its query string and fragment, where pre-signed signatures live, and
    without its ``user:password@``."""
    url = url.split("#", 1)[0].split("?", 1)[0]
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if separator and "@" in authority:
        return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return url


@dataclass(frozen=True)
class DesiredJob:
    """A spec as the plan sees it: the spec, the owner id of the repository it belongs to,
    and for a local dataset its content fingerprint (full sha256 hex) and the number of bytes
    an upload sends (the zip's size for a folder).

    Fingerprint and size are ``None`` for ``{url: ...}`` and ``{id: ...}`` datasets, which are
    used as they are.
    """

    spec: FineTuneSpec
    dataset_fingerprint: str | None = None
    upload_size: int | None = None
    owner: str | None = None

    @property
    def key(self) -> tuple[Provider, str]:
        return self.spec.key

    @property
    def remote_name(self) -> str:
        """The job's name on the provider: ``<owner>--<spec name>``."""
        return f"{self.owner}--{self.spec.name}" if self.owner else self.spec.name


@dataclass(frozen=True, init=False)
class ObservedJob:
    """One remote job as a provider's list endpoint shows it, in provider-neutral terms.

    Optional fields are ``None`` when the list does not reveal them; the diff compares a
    field only when both the spec sets it and the list reveals it. ``name`` is the job's name
    without its owner, and ``owner`` the owner id its remote name carries (``None``: made by
    hand, or before the repository had one); Qubrid jobs have neither, and the diff recovers
    both from the dataset's marker. ``dataset_ref`` is
    Segmind's ``data_source_path`` (query stripped) or the Qubrid/Cohere dataset id.
    ``marker`` is the ownership marker parsed from the dataset, when there is one.
    ``model_id`` is what a delete addresses: Qubrid's ``fine_tuned_model``, Cohere's model id.
    ``sequence`` orders jobs whose ``created_at`` is missing or equal (Segmind's list has no
    timestamps): larger is newer.
    """

    provider: Provider
    remote_id: str
    name: str | None
    raw_status: str
    health: Health
    created_at: datetime | None = None
    sequence: int = 0
    owner: str | None = None
    access: Literal["private", "public"] | None = None  # Segmind: segmind_public_model
    dataset_ref: str | None = None
    marker: Marker | None = None
    model_id: str | None = None
    base_model: str | None = None
    base_type: str | None = None  # Cohere: settings.base_model.base_type
    task_type: str | None = None  # Qubrid
    theme: str | None = None  # Segmind
    train_type: str | None = None  # Segmind
    machine_type: str | None = None  # Segmind (not in its list; kept for symmetry)
    trigger_word: str | None = None  # Segmind (not in its list)
    instance_prompt: str | None = None  # Segmind (not in its list)
    wandb: Mapping[str, str] | None = None  # Cohere: project and entity only, never the key
    parameters: Mapping[str, Any] | None = None  # advance_parameters / hyperparameters
    error_message: str | None = None

    def __init__(
        self,
        provider: Provider,
        remote_id: str,
        name: str | None,
        raw_status: str,
        health: Health,
        created_at: datetime | None = None,
        sequence: int = 0,
        owner: str | None = None,
        access: Literal["private", "public"] | None = None,
        dataset_ref: str | None = None,
        marker: Marker | None = None,
        model_id: str | None = None,
        base_model: str | None = None,
        base_type: str | None = None,
        task_type: str | None = None,
        theme: str | None = None,
        train_type: str | None = None,
        machine_type: str | None = None,
        trigger_word: str | None = None,
        instance_prompt: str | None = None,
        wandb: Mapping[str, str] | None = None,
        parameters: Mapping[str, Any] | None = None,
        error_message: str | None = None,
    ) -> None:
        # A stored URL never keeps a pre-signed query or a password, and a W&B key never
        # enters a plan. (Tested before stripping: most references have none of them, and lists
        # hold thousands.)
        if dataset_ref is not None and (
            "?" in dataset_ref or "#" in dataset_ref or "@" in dataset_ref
        ):
            dataset_ref = strip_url_secrets(dataset_ref)
        if wandb is not None:
            wandb = {k: v for k, v in wandb.items() if k in ("project", "entity")}
        # A provider's failure message may quote what it was sent (a W&B key it could not use).
        if error_message:
            error_message = redact(error_message)
        vars(self).update(
            provider=provider,
            remote_id=remote_id,
            name=name,
            raw_status=raw_status,
            health=health,
            created_at=created_at,
            sequence=sequence,
            owner=owner,
            access=access,
            dataset_ref=dataset_ref,
            marker=marker,
            model_id=model_id,
            base_model=base_model,
            base_type=base_type,
            task_type=task_type,
            theme=theme,
            train_type=train_type,
            machine_type=machine_type,
            trigger_word=trigger_word,
            instance_prompt=instance_prompt,
            wandb=wandb,
            parameters=parameters,
            error_message=error_message,
        )

    @property
    def remote_name(self) -> str | None:
        """The name the provider shows: ``<owner>--<name>`` (``None`` for a nameless job)."""
        if self.name is None:
            return None
        return f"{self.owner}--{self.name}" if self.owner else self.name

    def owned_by(self, owner: str | None) -> bool:
        """Whether this job carries the owner id ``owner`` (only such jobs are ever pruned)."""
        return owner is not None and self.owner == owner

    @property
    def age_key(self) -> tuple[str, int, str]:
        """Sorts jobs oldest first; the last of a name is its current job."""
        stamp = self.created_at.astimezone(UTC).isoformat() if self.created_at else ""
        return (stamp, self.sequence, self.remote_id)


@dataclass(frozen=True)
class RemoteDataset:
    """An uploaded dataset a provider lists (Qubrid, Cohere): its id, name and parsed marker.

    ``usable`` is false when the provider will not train on it (Cohere: validation failed or
    was skipped), so a create uploads afresh instead of reusing it.
    """

    provider: Provider
    remote_id: str
    name: str
    marker: Marker | None = None
    size_bytes: int | None = None
    created_at: datetime | None = None
    usable: bool = True


class WriteState(StrEnum):
    """What is known of a create (or replace) this repository sent recently."""

    INTENDED = "intended"  # a run was about to send it and may have stopped before or after
    CONFIRMED = "confirmed"  # the provider answered with the new job's id
    UNKNOWN = "unknown"  # it was sent and its answer was lost: it may or may not exist


@dataclass(frozen=True)
class RecentWrite:
    """A create or replace this repository sent within its settle window, as remembered in
    the writer lease's journal: lists may not show its job yet, so the plan must not take
    the job's absence from a list for proof that it was never made.

    ``sent_at`` (seconds since the epoch) is when it was sent, or for an intended write the
    latest moment it could have been; ``known_ids`` are the jobs of that name that existed
    before it (a replace's old job), so that only a new job settles it; ``remote_id`` is the
    new job's id when the provider answered; ``by`` says who sent it, for messages."""

    provider: Provider
    name: str
    action: Action
    state: WriteState
    sent_at: float
    remote_id: str | None = None
    known_ids: tuple[str, ...] = ()
    by: str = ""


@dataclass(frozen=True)
class ProviderObservation:
    """What one provider's list endpoints returned. ``complete`` is false when a list failed
    part-way or could not be read (``error`` says why): the plan then changes nothing there.
    ``started_at`` (seconds since the epoch) is when the listing began: a list only proves a
    job absent when it began a settle window after the job's create was sent. ``recent`` are
    the creates of this repository on this provider still within their settle window."""

    provider: Provider
    jobs: tuple[ObservedJob, ...] = ()
    datasets: tuple[RemoteDataset, ...] = ()
    complete: bool = True
    error: str | None = None
    started_at: float | None = None
    recent: tuple[RecentWrite, ...] = ()


@dataclass(frozen=True)
class ObservedState:
    """The observation of every provider that was asked. A provider absent from ``providers``
    was not observed at all, which the plan treats like an incomplete observation."""

    providers: Mapping[Provider, ProviderObservation] = field(default_factory=dict)

    @classmethod
    def of(cls, *observations: ProviderObservation) -> ObservedState:
        return cls({observation.provider: observation for observation in observations})


class Action(StrEnum):
    """What a plan does to one job. Listed in the order a plan shows them."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return _ACTION_SYMBOLS[self]


_ACTION_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NOOP: " ",
}


class BlockKind(StrEnum):
    """Why a change will not be applied."""

    NEEDS_ALLOW_REPLACE = "needs_allow_replace"  # replace without --allow-replace
    NOT_SUPPORTED = "not_supported"  # the provider has no way to do it (Segmind delete): a warning
    INCOMPLETE_OBSERVATION = "incomplete_observation"  # the provider's list was not fully read
    UNOWNED_NAMESAKE = "unowned_namesake"  # a job of this name without our owner: adopt or rename
    UNCONFIRMED = "unconfirmed"  # an earlier create's outcome is not known yet
    GUARDRAIL = "guardrail"  # the plan creates, replaces or deletes more than the limits allow
    PREVENT_DESTROY = "prevent_destroy"  # the spec's lifecycle forbids replacing or deleting


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
    providers' lists may still not show it."""

    owner: str | None = None
    prune: bool = False
    allow_replace: bool = False
    retry_failed: bool = False
    guardrails: Guardrails = Guardrails()
    forget: frozenset[tuple[Provider, str]] = frozenset()
    settle_window: float = 300.0


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

    @property
    def has_changes(self) -> bool:
        return self.create + self.update + self.replace + self.delete > 0


@dataclass(frozen=True)
class IncompleteProvider:
    """A provider whose observation was incomplete, and why."""

    provider: Provider
    error: str


class LazyText:
    """A dataclass field holding a string given as it is or as a function that makes it,
    called on the first read (and only then).

    For a value that is costly to compute and seldom read: ``Plan.snapshot`` hashes every
    observed job, but only a saved plan, JSON output and ``apply --plan`` read it. The field
    stays a plain ``str`` to its readers, and equality, ``repr`` and ``replace`` see the
    string.
    """

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self._attribute = f"_{name}_value"

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> LazyText: ...

    @overload
    def __get__(self, instance: object, owner: type[Any]) -> str: ...

    def __get__(self, instance: object | None, owner: type[Any]) -> LazyText | str:
        if instance is None:
            # What a dataclass asks to find a default: there is none.
            raise AttributeError(self._attribute)
        value: str | Callable[[], str] = instance.__dict__[self._attribute]
        if not isinstance(value, str):
            value = value()
            instance.__dict__[self._attribute] = value
        return value

    def __set__(self, instance: object, value: str | Callable[[], str]) -> None:
        # Reached only from the dataclass's own __init__: a frozen instance refuses setattr.
        instance.__dict__[self._attribute] = value


@dataclass(frozen=True)
class Plan:
    """A reconciliation as a value: one ``Change`` per managed job (sorted by provider, name,
    remote id), the remote jobs no spec names (``unmanaged``), the options it was made with,
    and ``snapshot``: a sha256 over the specs, their dataset fingerprints and the observed
    remote state, which ``apply --plan`` recomputes to refuse a stale plan. ``snapshot`` may
    be given as a function that computes it: it is then computed when first read."""

    changes: tuple[Change, ...]
    unmanaged: tuple[ObservedJob, ...]
    options: PlanOptions
    snapshot: LazyText = LazyText()
    incomplete: tuple[IncompleteProvider, ...] = ()
    format_version: int = PLAN_FORMAT_VERSION

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

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON form (docs/plans.md): every key always present, None as null."""
        summary = self.summary
        return {
            "format_version": self.format_version,
            "snapshot": self.snapshot,
            "options": options_to_dict(self.options),
            "summary": {
                "create": summary.create,
                "update": summary.update,
                "replace": summary.replace,
                "delete": summary.delete,
                "noop": summary.noop,
                "blocked": summary.blocked,
                "warnings": summary.warnings,
            },
            "changes": [_change_to_dict(change) for change in self.changes],
            "unmanaged": [observed_job_to_dict(job) for job in self.unmanaged],
            "incomplete": [{"provider": i.provider, "error": i.error} for i in self.incomplete],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Reads ``to_dict``'s output back; raises ``PlanFileError`` on anything else."""
        try:
            version = data["format_version"]
            if version != PLAN_FORMAT_VERSION:
                raise PlanFileError(
                    f"plan format version {version!r} is not supported (this reconcile reads"
                    f" version {PLAN_FORMAT_VERSION}); make the plan again with this version"
                )
            return cls(
                changes=tuple(_change_from_dict(c) for c in data["changes"]),
                unmanaged=tuple(observed_job_from_dict(j) for j in data["unmanaged"]),
                options=options_from_dict(data["options"]),
                snapshot=_str(data["snapshot"]),
                incomplete=tuple(
                    IncompleteProvider(_provider(i["provider"]), _str(i["error"]))
                    for i in data["incomplete"]
                ),
            )
        except PlanFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise PlanFileError(
                f"not a plan file of format version {PLAN_FORMAT_VERSION}"
                f" ({type(error).__name__}: {error}); make the plan again with `reconcile plan"
                " --out FILE`"
            ) from error


# --- JSON forms ----------------------------------------------------------------------------
#
# Explicit per value rather than a generic walker: the format is a public, documented contract
# (docs/plans.md), so each key is written down where it is produced and read.


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _number(value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def options_to_dict(options: PlanOptions) -> dict[str, Any]:
    guardrails = options.guardrails
    return {
        "owner": options.owner,
        "prune": options.prune,
        "allow_replace": options.allow_replace,
        "retry_failed": options.retry_failed,
        "guardrails": {
            "max_creates": guardrails.max_creates,
            "max_replaces": guardrails.max_replaces,
            "max_deletes": guardrails.max_deletes,
        },
        "forget": [{"provider": p, "name": n} for p, n in sorted(options.forget)],
        "settle_window": options.settle_window,
    }


def options_from_dict(data: Mapping[str, Any]) -> PlanOptions:
    guardrails = data["guardrails"]
    return PlanOptions(
        owner=_opt_str(data["owner"]),
        prune=_bool(data["prune"]),
        allow_replace=_bool(data["allow_replace"]),
        retry_failed=_bool(data["retry_failed"]),
        guardrails=Guardrails(
            max_creates=_int(guardrails["max_creates"]),
            max_replaces=_int(guardrails["max_replaces"]),
            max_deletes=_int(guardrails["max_deletes"]),
        ),
        forget=frozenset((_provider(f["provider"]), _str(f["name"])) for f in data["forget"]),
        settle_window=_number(data["settle_window"]),
    )


def _provider(value: Any) -> Provider:
    if value not in PROVIDERS:
        raise ValueError(f"unknown provider {value!r}")
    provider: Provider = value
    return provider


def _access(value: Any) -> Literal["private", "public"] | None:
    if value is None:
        return None
    if value == "private":
        return "private"
    if value == "public":
        return "public"
    raise ValueError(f"unknown access {value!r}")


def _task_type(value: Any) -> Literal["qa", "not_qa"] | None:
    if value is None:
        return None
    if value == "qa":
        return "qa"
    if value == "not_qa":
        return "not_qa"
    raise ValueError(f"unknown task_type {value!r}")


def _opt_mapping(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {value!r}")
    return dict(value)


def _datetime_to_json(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _datetime_from_json(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(_str(value))


def to_json_value(value: Any) -> Any:
    """``value`` as plain JSON data: mappings to dicts, tuples and sets to lists."""
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_json_value(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


def spec_to_dict(spec: FineTuneSpec) -> dict[str, Any]:
    """The spec's JSON form. A ``{url:}`` dataset loses its query string and its
    ``user:password@``: a plan file never holds a signature or a password, so apply takes
    such a URL from the loaded spec, which the stale-plan check has proved unchanged
    (``reconciler.diff.snapshot_of`` hashes the whole URL)."""
    dataset = spec.dataset.value
    if spec.dataset.kind is DatasetKind.URL:
        dataset = strip_url_secrets(dataset)
    return {
        "name": spec.name,
        "provider": spec.provider,
        "base_model": spec.base_model,
        "dataset": {"kind": spec.dataset.kind.value, "value": dataset},
        "source": {"file": str(spec.source.file), "line": spec.source.line, "col": spec.source.col},
        "access": spec.access,
        "trigger_word": spec.trigger_word,
        "instance_prompt": spec.instance_prompt,
        "theme": spec.theme,
        "machine_type": spec.machine_type,
        "train_type": spec.train_type,
        "task_type": spec.task_type,
        "csv_columns": None if spec.csv_columns is None else list(spec.csv_columns),
        "base_type": spec.base_type,
        "dataset_type": spec.dataset_type,
        "parameters": to_json_value(spec.parameters),
        "wandb": None if spec.wandb is None else dict(spec.wandb),
        "adopt": list(spec.adopt),
        "lifecycle": {
            "allow_replace": spec.lifecycle.allow_replace,
            "prevent_destroy": spec.lifecycle.prevent_destroy,
        },
        "set_fields": sorted(spec.set_fields),
    }


def spec_from_dict(data: Mapping[str, Any]) -> FineTuneSpec:
    source = data["source"]
    columns = data["csv_columns"]
    return FineTuneSpec(
        name=_str(data["name"]),
        provider=_provider(data["provider"]),
        base_model=_str(data["base_model"]),
        dataset=DatasetRef(DatasetKind(data["dataset"]["kind"]), _str(data["dataset"]["value"])),
        source=SourceLocation(
            Path(_str(source["file"])), _int(source["line"]), _int(source["col"])
        ),
        access=_access(data["access"]),
        trigger_word=_opt_str(data["trigger_word"]),
        instance_prompt=_opt_str(data["instance_prompt"]),
        theme=_opt_str(data["theme"]),
        machine_type=_opt_str(data["machine_type"]),
        train_type=_opt_str(data["train_type"]),
        task_type=_task_type(data["task_type"]),
        csv_columns=None if columns is None else tuple(_str(c) for c in columns),
        base_type=_opt_str(data["base_type"]),
        dataset_type=_opt_str(data["dataset_type"]),
        parameters=_opt_mapping(data["parameters"]) or {},
        wandb=_opt_mapping(data["wandb"]),
        adopt=tuple(_str(i) for i in data["adopt"]),
        lifecycle=Lifecycle(
            allow_replace=_bool(data["lifecycle"]["allow_replace"]),
            prevent_destroy=_bool(data["lifecycle"]["prevent_destroy"]),
        ),
        set_fields=frozenset(_str(f) for f in data["set_fields"]),
    )


def desired_job_to_dict(job: DesiredJob) -> dict[str, Any]:
    return {
        "spec": spec_to_dict(job.spec),
        "dataset_fingerprint": job.dataset_fingerprint,
        "upload_size": job.upload_size,
        "owner": job.owner,
    }


def desired_job_from_dict(data: Mapping[str, Any]) -> DesiredJob:
    return DesiredJob(
        spec=spec_from_dict(data["spec"]),
        dataset_fingerprint=_opt_str(data["dataset_fingerprint"]),
        upload_size=_opt_int(data["upload_size"]),
        owner=_opt_str(data["owner"]),
    )


def _marker_to_dict(marker: Marker | None) -> dict[str, str | None] | None:
    if marker is None:
        return None
    return {"name": marker.name, "fingerprint12": marker.fingerprint12, "owner": marker.owner}


def _marker_from_dict(data: Any) -> Marker | None:
    if data is None:
        return None
    return Marker(_str(data["name"]), _str(data["fingerprint12"]), _opt_str(data["owner"]))


def observed_job_to_dict(job: ObservedJob) -> dict[str, Any]:
    return {
        "provider": job.provider,
        "remote_id": job.remote_id,
        "name": job.name,
        "raw_status": job.raw_status,
        "health": job.health.value,
        "created_at": _datetime_to_json(job.created_at),
        "sequence": job.sequence,
        "owner": job.owner,
        "access": job.access,
        "dataset_ref": job.dataset_ref,
        "marker": _marker_to_dict(job.marker),
        "model_id": job.model_id,
        "base_model": job.base_model,
        "base_type": job.base_type,
        "task_type": job.task_type,
        "theme": job.theme,
        "train_type": job.train_type,
        "machine_type": job.machine_type,
        "trigger_word": job.trigger_word,
        "instance_prompt": job.instance_prompt,
        "wandb": None if job.wandb is None else dict(job.wandb),
        "parameters": None if job.parameters is None else to_json_value(job.parameters),
        "error_message": job.error_message,
    }


def observed_job_from_dict(data: Mapping[str, Any]) -> ObservedJob:
    return ObservedJob(
        provider=_provider(data["provider"]),
        remote_id=_str(data["remote_id"]),
        name=_opt_str(data["name"]),
        raw_status=_str(data["raw_status"]),
        health=Health(data["health"]),
        created_at=_datetime_from_json(data["created_at"]),
        sequence=_int(data["sequence"]),
        owner=_opt_str(data["owner"]),
        access=_access(data["access"]),
        dataset_ref=_opt_str(data["dataset_ref"]),
        marker=_marker_from_dict(data["marker"]),
        model_id=_opt_str(data["model_id"]),
        base_model=_opt_str(data["base_model"]),
        base_type=_opt_str(data["base_type"]),
        task_type=_opt_str(data["task_type"]),
        theme=_opt_str(data["theme"]),
        train_type=_opt_str(data["train_type"]),
        machine_type=_opt_str(data["machine_type"]),
        trigger_word=_opt_str(data["trigger_word"]),
        instance_prompt=_opt_str(data["instance_prompt"]),
        wandb=_opt_mapping(data["wandb"]),
        parameters=_opt_mapping(data["parameters"]),
        error_message=_opt_str(data["error_message"]),
    )


def remote_dataset_to_dict(dataset: RemoteDataset) -> dict[str, Any]:
    return {
        "provider": dataset.provider,
        "remote_id": dataset.remote_id,
        "name": dataset.name,
        "marker": _marker_to_dict(dataset.marker),
        "size_bytes": dataset.size_bytes,
        "created_at": _datetime_to_json(dataset.created_at),
        "usable": dataset.usable,
    }


def remote_dataset_from_dict(data: Mapping[str, Any]) -> RemoteDataset:
    return RemoteDataset(
        provider=_provider(data["provider"]),
        remote_id=_str(data["remote_id"]),
        name=_str(data["name"]),
        marker=_marker_from_dict(data["marker"]),
        size_bytes=_opt_int(data["size_bytes"]),
        created_at=_datetime_from_json(data["created_at"]),
        usable=_bool(data["usable"]),
    )


def _change_to_dict(change: Change) -> dict[str, Any]:
    upload = change.upload
    blocked = change.blocked
    return {
        "action": change.action.value,
        "provider": change.provider,
        "name": change.name,
        "reason": change.reason,
        "field_changes": [
            {"path": f.path, "remote": to_json_value(f.remote), "desired": to_json_value(f.desired)}
            for f in change.field_changes
        ],
        "desired": None if change.desired is None else desired_job_to_dict(change.desired),
        "current": None if change.current is None else observed_job_to_dict(change.current),
        "history": list(change.history),
        "health": None if change.health is None else change.health.value,
        "upload": None
        if upload is None
        else {
            "path": str(upload.path),
            "size": upload.size,
            "fingerprint": upload.fingerprint,
            "remote_name": upload.remote_name,
            "file_name": upload.file_name,
        },
        "reuse": None if change.reuse is None else remote_dataset_to_dict(change.reuse),
        "target_id": change.target_id,
        "delete_method": None if change.delete_method is None else change.delete_method.value,
        "blocked": None
        if blocked is None
        else {
            "kind": blocked.kind.value,
            "reason": blocked.reason,
            "fix": blocked.fix,
            "until": blocked.until,
        },
    }


def _change_from_dict(data: Mapping[str, Any]) -> Change:
    upload = data["upload"]
    blocked = data["blocked"]
    return Change(
        action=Action(data["action"]),
        provider=_provider(data["provider"]),
        name=_str(data["name"]),
        reason=_str(data["reason"]),
        field_changes=tuple(
            FieldChange(_str(f["path"]), f["remote"], f["desired"]) for f in data["field_changes"]
        ),
        desired=None if data["desired"] is None else desired_job_from_dict(data["desired"]),
        current=None if data["current"] is None else observed_job_from_dict(data["current"]),
        history=tuple(_str(h) for h in data["history"]),
        health=None if data["health"] is None else Health(data["health"]),
        upload=None
        if upload is None
        else Upload(
            path=Path(_str(upload["path"])),
            size=_int(upload["size"]),
            fingerprint=_str(upload["fingerprint"]),
            remote_name=_str(upload["remote_name"]),
            file_name=_str(upload["file_name"]),
        ),
        reuse=None if data["reuse"] is None else remote_dataset_from_dict(data["reuse"]),
        target_id=_opt_str(data["target_id"]),
        delete_method=None
        if data["delete_method"] is None
        else DeleteMethod(data["delete_method"]),
        blocked=None
        if blocked is None
        else Blocker(
            BlockKind(blocked["kind"]),
            _str(blocked["reason"]),
            _str(blocked["fix"]),
            None if blocked["until"] is None else _number(blocked["until"]),
        ),
    )
