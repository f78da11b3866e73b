"""What the providers' list endpoints showed, in provider-neutral terms: each remote job
(``ObservedJob``) with its ``Health``, each uploaded dataset (``RemoteDataset``), one
provider's observation (``ProviderObservation``, with the recent writes of this repository
its list may not show yet) and all of them (``ObservedState``). Frozen values; nothing here
does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from reconciler.core.action import Action
from reconciler.core.marker import Marker
from reconciler.core.spec import Provider
from reconciler.redact import redact, strip_url_secrets


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
class JobOutputs:
    """What a finished job produced, in provider-neutral terms: what the next step (a deploy,
    an inference call) needs. Each field is ``None`` when the provider does not show it.

    ``model_id`` is the id to call the fine-tuned model by (Qubrid's ``fine_tuned_model``,
    Cohere's ``<id>-ft``); ``weights_url`` where the trained weights are stored (Segmind's
    ``cloud_storage_url``), kept without its query string, fragment or password: a pre-signed
    URL's signature is a credential and never enters a value; ``slug`` Segmind's model slug.
    Provider text: every view sanitises it.
    """

    model_id: str | None = None
    weights_url: str | None = None
    slug: str | None = None

    def __post_init__(self) -> None:
        if self.weights_url is not None:
            object.__setattr__(self, "weights_url", strip_url_secrets(self.weights_url))

    @property
    def empty(self) -> bool:
        return self.model_id is None and self.weights_url is None and self.slug is None

    def merged(self, more: JobOutputs | None) -> JobOutputs:
        """These outputs with the fields ``more`` knows (a details read) filled in or updated."""
        if more is None:
            return self
        return JobOutputs(
            model_id=more.model_id or self.model_id,
            weights_url=more.weights_url or self.weights_url,
            slug=more.slug or self.slug,
        )

    def to_dict(self) -> dict[str, str | None]:
        return {"model_id": self.model_id, "weights_url": self.weights_url, "slug": self.slug}


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
    timestamps): larger is newer. ``outputs`` is what a finished job produced, as far as the
    list shows it (``JobOutputs``).

    Its ``__init__`` is written by hand, in step with the fields
    (``tests/unit/core/test_observed.py`` checks that): the one a frozen dataclass generates
    sets each of its 24 fields through
    ``object.__setattr__``, and a dry run over a large account builds one ``ObservedJob`` per
    listed job (tens of thousands), so this one fills the instance dictionary in one step. It
    stays until ``bench/bench_plan.py`` shows that the generated one costs no user-visible time.
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
    outputs: JobOutputs | None = None

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
        outputs: JobOutputs | None = None,
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
            outputs=outputs,
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
    was skipped), so a create uploads afresh instead of reusing it. ``validating``: the
    provider is still validating it (Cohere: queued or processing); it is usable all the same
    (an apply killed while waiting for it leaves it for the next run, which waits for it rather
    than upload it again), and a create on it waits until it has validated.
    """

    provider: Provider
    remote_id: str
    name: str
    marker: Marker | None = None
    size_bytes: int | None = None
    created_at: datetime | None = None
    usable: bool = True
    validating: bool = False


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
    the creates of this repository on this provider still within their settle window.

    ``refused`` is set when the provider refuses the whole service (Cohere's deprecated
    fine-tuning API): the one message that says so and what to do. Such an observation is also
    incomplete (nothing could be listed), but the plan says the message once and blocks each
    change with a short reason pointing at it, rather than calling it a list read part-way."""

    provider: Provider
    jobs: tuple[ObservedJob, ...] = ()
    datasets: tuple[RemoteDataset, ...] = ()
    complete: bool = True
    error: str | None = None
    refused: str | None = None
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
