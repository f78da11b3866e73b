"""What a provider is, as one value: ``ProviderProfile``, and the small values its fields use.

A profile holds every fact of one provider that code outside its adapter needs: where its
API is and which environment variables hold its keys, how long a spec name may be, which
datasets it trains on, how the names of the datasets we upload are formed and read back,
how its statuses map to ``Health``, what it can do to a job besides creating it (flip access,
delete), its own settings in ``reconciler.yaml``, and how a listed job becomes a spec
(``reconcile import``). Each provider's profile is built in ``providers/<name>/profile.py``;
``providers/profiles.py`` gathers them in ``PROFILES``. ``DatasetUse`` is what a provider's
dataset checks (``providers/<name>/checks.py``) are told of the spec a dataset is for.

This module is low and pure: it imports only the values of ``reconciler.core`` and the
generic marker rules of ``reconciler.naming``, never an adapter, HTTP or the dataset checks,
so that config, specs, the diff and the command line can read a profile cheaply
(``.importlinter`` holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from reconciler.core.marker import Marker
from reconciler.core.observed import Health, ObservedJob
from reconciler.core.plan import DeleteMethod
from reconciler.core.spec import DatasetKind, DatasetRef, Provider
from reconciler.naming import marker_for

OptionsT = TypeVar("OptionsT")


class HealthOf(Protocol):
    """A provider's status -> ``Health``; ``model_status`` is what a separate model list says
    of the job's trained model, where the provider has one (Qubrid)."""

    def __call__(self, status: str | None, model_status: str | None = None) -> Health: ...


# --- Datasets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetForms:
    """The local datasets a provider trains on: a folder (zipped by us) and files of
    ``file_suffixes`` (lower case, with the dot); ``takes`` says all it takes, remote forms
    included, for messages."""

    folder: bool
    file_suffixes: tuple[str, ...]
    takes: str

    def wrong_kind(self, raw: str, suffix: str, kind: DatasetKind) -> str | None:
        """Why the dataset written ``raw`` (a folder, or a file with ``suffix``) is not one the
        provider takes, or ``None`` when it is."""
        suffix = suffix.lower()
        if kind is DatasetKind.FOLDER and self.folder:
            return None
        if kind is DatasetKind.FILE and suffix in self.file_suffixes:
            return None
        what = "a folder" if kind is DatasetKind.FOLDER else f"a {suffix or 'extension-less'} file"
        return f"`{raw}` is {what}; {self.takes}"


@dataclass(frozen=True)
class DatasetUse:
    """What a spec says about the use of its dataset, which the dataset checks need: Qubrid's
    ``task_type`` and ``csv_columns``, Cohere's ``dataset_type`` (``None`` where unset)."""

    task_type: str | None = None
    csv_columns: Sequence[str] | None = None
    dataset_type: str | None = None


# --- Specs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """A problem with a spec document's field at ``path`` (``("dataset_type",)``)."""

    path: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class SpecFields:
    """The ``FineTuneSpec`` fields a provider works out from a spec document and its own
    settings (``values``, by field name), and the fields among them that count as set by the
    spec (``set_fields``: the diff compares only those)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    set_fields: frozenset[str] = frozenset()


SpecFieldsOf = Callable[[Mapping[str, Any], DatasetRef, OptionsT], SpecFields | list[FieldProblem]]
"""A spec document's fields, its resolved dataset and the provider's options -> the provider's
fields of the spec, or the problems that stop it."""


# --- Deletion --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteStep:
    """How a job is deleted: ``method`` applied to ``target_id`` (a job id or a model id)."""

    method: DeleteMethod
    target_id: str


@dataclass(frozen=True)
class NoDelete:
    """A job the provider offers no way to delete: why, and what its user can do instead (the
    plan adds how to stop tracking the job)."""

    reason: str
    fix: str


DeletePlan = Callable[[ObservedJob], DeleteStep | NoDelete | None]
"""A job of this repository that no spec names -> how to delete it, why it cannot be, or
``None`` when there is nothing to delete (Qubrid: a failed job holds no model)."""


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do to an existing job, declared: ``updates_access`` (its adapter is
    a ``providers.base.AccessUpdater``: access flips in place) and ``deletes_jobs`` (a
    ``JobDeleter``); ``validates_datasets`` (a ``DatasetValidator``: an uploaded dataset is
    validated asynchronously before a job may use it); ``mutable_fields`` are the spec fields a
    submitted job can change, so a difference in them is an update rather than a replace.
    ``reads_outputs``: the list does not show all of a finished job's outputs, and the adapter
    (an ``OutputsReader``) reads the rest with one request per finished job (Segmind's slug,
    in its details)."""

    updates_access: bool = False
    deletes_jobs: bool = False
    validates_datasets: bool = False
    reads_outputs: bool = False
    mutable_fields: frozenset[str] = frozenset()


# --- Import ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedFields:
    """The provider's part of a spec written for a listed job (``reconcile import``): its
    fields from ``base_model`` on, the training parameters to write, and ``notes`` for the
    file's reader (placeholders), one sentence each."""

    fields: Mapping[str, Any]
    parameters: Mapping[str, Any] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotImportable:
    """Why a listed job cannot be written as a spec, in words for the user."""

    reason: str


ImportMapping = Callable[[ObservedJob], ImportedFields | NotImportable]
"""A listed job (named, with a dataset) -> the provider's part of its spec, or why there is
none."""


# --- The profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderProfile(Generic[OptionsT]):
    """Every fact of one provider (see the module docstring). ``OptionsT`` is the type of its
    own settings (``providers.<name>`` in ``reconciler.yaml``)."""

    name: Provider
    title: str  # as people write it: "Segmind"
    # Where the API is and what authenticates it.
    default_base_url: str
    base_url_variable: str
    key_variables: tuple[str, ...]  # read in this order; the first one set is the key
    # Keys of other services the provider is handed (Cohere: W&B), by name -> variable.
    service_key_variables: Mapping[str, str]
    # Its own settings: read from `providers.<name>` (already schema-checked), and as they are
    # under the embedded sandbox, whose clock runs the given number of times faster.
    read_options: Callable[[Mapping[str, Any]], OptionsT]
    options_under_sandbox: Callable[[OptionsT, float], OptionsT]
    # Specs and datasets.
    max_name_length: int
    datasets: DatasetForms
    spec_fields: SpecFieldsOf[OptionsT]
    # Names of uploaded datasets (the marker, reconciler.naming) and how to read them back.
    owner_in_dataset_name: bool
    dataset_name_is_file_name: bool
    marker_in_dataset_ref: Callable[[str, str | None], Marker | None]
    # The remote jobs: health, what a plan decides by, what can be done to them.
    health: HealthOf
    decision_state: Callable[[ObservedJob], str]
    capabilities: Capabilities
    plan_delete: DeletePlan
    # Adoption (`reconcile import`).
    name_for_nameless_job: Callable[[str], str] | None
    import_fields: ImportMapping

    @property
    def key_variables_text(self) -> str:
        """The key variables as a message names them: ``COHERE_API_KEY (or CO_API_KEY)``."""
        first, *others = self.key_variables
        return f"{first} (or {', '.join(others)})" if others else first

    def dataset_marker(self, name: str, fingerprint: str, owner: str | None = None) -> Marker:
        """The marker the name of a dataset uploaded for spec ``name`` of repository ``owner``
        carries (without the owner where the provider's dataset names have no room for it)."""
        return marker_for(name, fingerprint, owner if self.owner_in_dataset_name else None)

    def upload_names(self, marker: Marker, local_suffix: str) -> tuple[str, str]:
        """``(remote_name, file_name)`` of an upload of a dataset marked ``marker``: the
        dataset name the provider stores and lists, and the file name sent with the bytes.
        ``local_suffix`` is the local file's extension (``""`` for a folder, which is uploaded
        as a zip)."""
        extension = (local_suffix or ".zip").lower()
        file_name = f"{marker}{extension}"
        return (file_name if self.dataset_name_is_file_name else str(marker)), file_name


def live_state(job: ObservedJob) -> str:
    """``decision_state`` of a provider whose plan decisions depend on nothing in a live job's
    status beyond its health."""
    return "live"


def same_options(options: OptionsT, speed: float) -> OptionsT:
    """``options_under_sandbox`` of a provider none of whose settings depend on the clock."""
    return options
