"""The stub provider's adapter: ``ProviderClient`` and ``AccessUpdater`` over an in-memory
account, with no network.

``StubAccount`` is the provider's side (what a real adapter reaches over HTTP): the key it
accepts, its datasets and its jobs, guarded by one lock since apply calls a client from several
threads. ``StubClient`` is the adapter: it holds a key, as a real one holds its settings' key,
and behaves as the Protocol says of every adapter: a list that fails is an incomplete
observation, a refused key an ``AuthenticationError``, a closed client ``ClientClosedError``,
and no message ever carries the key.
"""

from __future__ import annotations

import itertools
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from reconciler.core.observed import ObservedJob, ProviderObservation, RemoteDataset
from reconciler.core.plan import Upload
from reconciler.core.spec import DesiredJob, Provider
from reconciler.naming import parse_marker, split_remote_name
from reconciler.providers.base import (
    AuthenticationError,
    ClientClosedError,
    PermanentError,
    ProviderError,
)
from tests.contract.stub_provider.profile import (
    DATASET_ID_SUFFIX_CHARS,
    STUB,
    STUB_PROFILE,
)

Access = Literal["private", "public"]
# The statuses the stub's API documents, in the order a job goes through them; a job ends
# FAILED instead of READY when its training fails.
QUEUED, TRAINING, READY, FAILED = "QUEUED", "TRAINING", "READY", "FAILED"
JOB_STATUSES = (QUEUED, TRAINING, READY, FAILED)
_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class StubJob:
    """A job as the stub stores it; ``status`` moves on only when the account says so."""

    remote_id: str
    remote_name: str
    base_model: str
    dataset_id: str
    access: Access
    parameters: dict[str, Any]
    created_at: datetime
    sequence: int
    status: str = QUEUED


@dataclass
class StubDataset:
    remote_id: str
    name: str
    size_bytes: int
    created_at: datetime


@dataclass
class StubAccount:
    """The stub provider's side: the key it accepts, and what it stores under it."""

    api_key: str = field(default_factory=lambda: f"stub-{secrets.token_hex(8)}")
    jobs: dict[str, StubJob] = field(default_factory=dict)
    datasets: dict[str, StubDataset] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _sequence: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_sequence(self) -> int:
        return next(self._sequence)

    def finish(self, job_id: str) -> None:
        """Training of job ``job_id`` is over: it is ready."""
        with self.lock:
            self.jobs[job_id].status = READY


class StubClient:
    """``ProviderClient`` and ``AccessUpdater`` for the stub provider."""

    name: Provider = STUB

    def __init__(self, account: StubAccount, api_key: str | None) -> None:
        self._account = account
        self._api_key = api_key
        self._closed = threading.Event()

    def _authorised(self, what: str, job: str | None = None) -> None:
        """Refuse a request as the provider (or a closed client) would, before it is made."""
        if self._closed.is_set():
            raise ClientClosedError(STUB, f"{what}: not sent, the run has stopped", job=job)
        if self._api_key is None or not secrets.compare_digest(
            self._api_key, self._account.api_key
        ):
            raise AuthenticationError(
                STUB,
                f"{what}: the API key was refused; check {STUB_PROFILE.key_variables_text}",
                job=job,
                status=401,
            )

    def observe(self) -> ProviderObservation:
        try:
            self._authorised("listing jobs")
        except ProviderError as error:
            return ProviderObservation(STUB, complete=False, error=str(error))
        with self._account.lock:
            jobs = tuple(_observed_job(job) for job in self._account.jobs.values())
            datasets = tuple(
                RemoteDataset(
                    STUB,
                    dataset.remote_id,
                    dataset.name,
                    marker=parse_marker(dataset.name),
                    size_bytes=dataset.size_bytes,
                    created_at=dataset.created_at,
                )
                for dataset in self._account.datasets.values()
            )
        return ProviderObservation(STUB, jobs=jobs, datasets=datasets)

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        job = desired.spec.name if desired else None
        self._authorised("uploading the dataset", job)
        size = len(upload.path.read_bytes())
        if size != upload.size:
            raise PermanentError(
                STUB,
                f"uploading the dataset: {upload.path} has {size} bytes, the plan counted"
                f" {upload.size}; it changed since the plan: plan again",
                job=job,
            )
        suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(DATASET_ID_SUFFIX_CHARS))
        dataset = StubDataset(f"{upload.remote_name}-{suffix}", upload.remote_name, size, _now())
        with self._account.lock:
            self._account.datasets[dataset.remote_id] = dataset
        return dataset.remote_id

    def create(self, desired: DesiredJob, dataset_ref: str) -> str:
        spec = desired.spec
        self._authorised("creating the job", spec.name)
        with self._account.lock:
            if dataset_ref not in self._account.datasets:
                raise PermanentError(
                    STUB, f"creating the job: no dataset {dataset_ref!r}", job=spec.name, status=404
                )
            job = StubJob(
                remote_id=f"job-{secrets.token_hex(6)}",
                remote_name=desired.remote_name,
                base_model=spec.base_model,
                dataset_id=dataset_ref,
                access=spec.access or "private",
                parameters=dict(spec.parameters),
                created_at=_now(),
                sequence=self._account.next_sequence(),
            )
            self._account.jobs[job.remote_id] = job
        return job.remote_id

    def update_access(self, job_id: str, access: Access) -> None:
        self._authorised(f"setting the access of job {job_id}")
        with self._account.lock:
            job = self._account.jobs.get(job_id)
            if job is None:
                raise PermanentError(STUB, f"no job {job_id!r}", status=404)
            job.access = access

    def close(self) -> None:
        self._closed.set()


def _observed_job(job: StubJob) -> ObservedJob:
    owner, name = split_remote_name(job.remote_name)
    return ObservedJob(
        STUB,
        job.remote_id,
        name,
        job.status,
        STUB_PROFILE.health(job.status),
        created_at=job.created_at,
        sequence=job.sequence,
        owner=owner,
        access=job.access,
        dataset_ref=job.dataset_id,
        base_model=job.base_model,
        parameters=dict(job.parameters),
    )


def _now() -> datetime:
    return datetime.now(UTC)
