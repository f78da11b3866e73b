"""The seam between the reconciler and a provider's API, and the errors that cross it.

``ProviderClient`` is what every adapter does; ``AccessUpdater``, ``JobDeleter`` and
``OutputsReader`` and ``DatasetValidator`` are the capabilities some add, as their profiles
declare.

Error tree (each carries the provider, the job name where there is one, the HTTP status where
there is one, and the provider's own message; none ever carries a key, an Authorization header
or a pre-signed URL's query string)::

    ProviderError                      any failure talking to a provider
    ├── PermanentError                 retrying will not help (400, 401, 402, 403, 404, 409, 413)
    │   ├── AuthenticationError        401/403: the key is missing or wrong
    │   └── ServiceRefusedError        the provider refuses the service itself (a deprecated
    │                                  API): every change of that provider is blocked with its
    │                                  one message
    ├── RetryableError                 429, 5xx, timeouts, dropped connections (before sending)
    ├── OutcomeUnknownError            a write was sent but its answer was lost: it may have
    │                                  happened. A create in this state is never retried
    │                                  blindly; the caller observes again first.
    └── ClientClosedError              the client was closed (the run stopped): not sent
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from reconciler.core.observed import JobOutputs, ObservedJob, ProviderObservation
from reconciler.core.plan import Change, Upload
from reconciler.core.spec import DesiredJob, Provider


class ProviderError(Exception):
    """A failure talking to a provider, in words fit for the user."""

    def __init__(
        self,
        provider: Provider,
        message: str,
        *,
        job: str | None = None,
        status: int | None = None,
    ) -> None:
        self.provider = provider
        self.job = job
        self.status = status
        self.message = message
        where = f"{provider}/{job}" if job else provider
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{where}: {message}{code}")


class PermanentError(ProviderError):
    """The provider refused the request; sending it again will get the same answer."""


class AuthenticationError(PermanentError):
    """The provider rejected the API key (or none was set)."""


class ServiceRefusedError(PermanentError):
    """The provider refuses the service itself, not this one request (a deprecated API switched
    off): every further request of any change to it would be refused the same way.

    ``message`` says so once for the whole provider, with what to do; an apply sends nothing
    more to that provider and reports each of its remaining changes as blocked by it."""


class RetryableError(ProviderError):
    """A transient failure (429, 5xx, timeout, dropped connection): safe to try again.

    ``retry_after`` is the provider's Retry-After in seconds, when it sent one.
    """

    def __init__(
        self,
        provider: Provider,
        message: str,
        *,
        job: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, job=job, status=status)
        self.retry_after = retry_after


class OutcomeUnknownError(ProviderError):
    """A write was sent and its answer lost: the provider may or may not have done it."""


class ClientClosedError(ProviderError):
    """The client was closed before the request went out: the run has stopped."""


class ProviderClient(Protocol):
    """What the reconciler needs from every provider. Each adapter implements it over httpx.

    Every method is synchronous and thread-safe (apply runs several at once). Retries of
    transient failures happen inside the adapter, bounded in count and time; what escapes is
    a ``ProviderError``. What only some providers can do is a capability of its own
    (``AccessUpdater``, ``JobDeleter``), which an adapter implements exactly when its profile
    declares it (``ProviderProfile.capabilities``).
    """

    name: Provider

    def observe(self) -> ProviderObservation:
        """Everything the plan needs about this provider's jobs and datasets, in as few
        requests as the API allows: one paginated job list (plus one dataset list where the
        job list lacks the dataset's name). Never one request per job.

        A list that cannot be read whole (a refused key, a failed page, a closed client) is
        not raised: it is an incomplete observation (``complete`` false, ``error`` saying why
        and which key variable to check), on which the plan changes nothing."""
        ...

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload a local dataset (streamed from disk) and return the reference a create
        takes: Segmind's ``s3_url``, Qubrid's dataset id, Cohere's dataset id once it has
        validated. ``desired`` is the job the dataset is for (its dataset type, its base
        model)."""
        ...

    def create(self, desired: DesiredJob, dataset_ref: str) -> str:
        """Submit the job; return its remote id. Raises ``OutcomeUnknownError`` when the
        request went out and its answer was lost."""
        ...

    def close(self) -> None:
        """Release the HTTP connections. Safe to call while another thread is in a request:
        what that thread has not yet sent, and any retry it would make, fails at once with
        ``ClientClosedError``."""
        ...


@runtime_checkable
class AccessUpdater(Protocol):
    """The capability to flip a submitted job between public and private in place
    (``Capabilities.updates_access``: Segmind)."""

    def update_access(self, job_id: str, access: Literal["private", "public"]) -> None:
        """Set the access of job ``job_id``; setting it to what it is already is harmless."""
        ...


@runtime_checkable
class JobDeleter(Protocol):
    """The capability to delete a job (``Capabilities.deletes_jobs``: Qubrid, Cohere)."""

    def delete(self, change: Change) -> None:
        """Carry out a delete change (cancel, or delete the model) as its ``delete_method``
        says; deleting what is already gone is harmless."""
        ...


@runtime_checkable
class OutputsReader(Protocol):
    """The capability to read what a finished job produced beyond what its list shows
    (``Capabilities.reads_outputs``: Segmind's slug is in its details only)."""

    def read_outputs(self, job: ObservedJob) -> JobOutputs:
        """The outputs of finished job ``job``, in one request; raises ``ProviderError``."""
        ...


class Validated(StrEnum):
    """Where a dataset's validation stands, as a list or a look at it shows."""

    PENDING = "pending"  # still validating: look again later
    VALIDATED = "validated"  # a job may train on it
    FAILED = "failed"  # it will never train: the file must be fixed
    UNSETTLED = "unsettled"  # no status yet (proto3's zero value): not begun, or not known


@dataclass(frozen=True)
class Validation:
    """One dataset's validation: its state and, when it failed, the provider's reason."""

    state: Validated
    reason: str | None = None


@runtime_checkable
class DatasetValidator(Protocol):
    """The capability of a provider whose uploaded datasets validate asynchronously before a
    job may use them (``Capabilities.validates_datasets``: Cohere). An apply uploads with
    ``start_upload``, holds no worker while the provider validates, and asks after every
    dataset it waits for at once with ``validations``, every ``validation_poll`` seconds."""

    @property
    def validation_poll(self) -> float:
        """Seconds between two looks at the datasets being validated (a setting)."""
        ...

    @property
    def validation_timeout(self) -> float:
        """Seconds a dataset may take to validate before the apply gives up on it."""
        ...

    def start_upload(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload ``upload`` (streamed from disk) and return its dataset id at once, without
        waiting for its validation."""
        ...

    def validations(
        self, dataset_ids: Collection[str], *, since: datetime | None = None
    ) -> Mapping[str, Validation]:
        """The validation of each of ``dataset_ids`` the provider's dataset list shows, read
        in one list request (more pages only when more datasets were made since the oldest of
        them than a page holds), whatever their number. ``since`` is when the oldest of them
        was made, by the provider's clock, when known. A dataset the list does not show (yet)
        is left out."""
        ...

    def validation_of(self, dataset_id: str) -> Validation | None:
        """One dataset's validation, asked of it alone (a details endpoint, which does not lag
        as a list may); ``None`` when the provider does not know the dataset."""
        ...
