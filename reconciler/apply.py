"""The apply executor: carries out a ``Plan``'s changes against the providers, exactly once.

It acts on the plan's fields alone (never on a change's ``reason``), in phases: creates and
replaces (each job's dataset upload, then its submit), then access updates, then deletes.
Within a phase up to ``parallelism`` changes run at once on a thread pool; one change's failure
never stops the others, and a job whose upload failed is not submitted. A job is submitted as
soon as its own upload is done rather than after every upload, so an apply killed part-way
leaves whole jobs behind and the next run reuses what was uploaded.

Retries of transient failures live in the adapters. What this module adds is the one retry an
adapter must not do by itself: a write whose answer was lost (``OutcomeUnknownError``) is
followed by a fresh observation of that provider before anything is sent again, so a create
whose response was dropped after the provider committed it is found and counted as done rather
than submitted twice. Blocked changes are skipped and reported; the result says whether
anything failed or was blocked (exit 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from reconciler.datasets import DatasetError
from reconciler.diff import identify_jobs
from reconciler.model import (
    Action,
    Change,
    DesiredJob,
    Plan,
    Provider,
    ProviderObservation,
    Upload,
)
from reconciler.progress import NO_PROGRESS, UploadProgress
from reconciler.providers.base import OutcomeUnknownError, ProviderClient, ProviderError

# How many times a write whose outcome was lost is checked and sent again before giving up;
# also how many times a list that could not be read is asked for again to check.
DEFAULT_UNKNOWN_OUTCOME_ATTEMPTS = 8
# Pauses between lists asked for again (the adapter has already retried each one).
OBSERVE_PAUSE_SECONDS = 0.25
OBSERVE_PAUSE_MAX_SECONDS = 4.0

_T = TypeVar("_T")


class OutcomeKind(StrEnum):
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Outcome:
    """What became of one change. ``message`` says what was done, the provider's message for
    a failure, or the blocker's reason; ``remote_id`` is the job a create produced."""

    change: Change
    kind: OutcomeKind
    message: str
    remote_id: str | None = None

    @property
    def provider(self) -> Provider:
        return self.change.provider

    @property
    def name(self) -> str:
        return self.change.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.change.action.value,
            "provider": self.provider,
            "name": self.name,
            "outcome": self.kind.value,
            "message": self.message,
            "remote_id": self.remote_id,
        }


@dataclass(frozen=True)
class ApplyResult:
    """Every outcome of one apply, in plan order."""

    outcomes: tuple[Outcome, ...]

    def of_kind(self, kind: OutcomeKind) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.kind is kind)

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing was blocked."""
        return all(o.kind is OutcomeKind.DONE for o in self.outcomes)

    def summary_line(self) -> str:
        done = len(self.of_kind(OutcomeKind.DONE))
        failed = len(self.of_kind(OutcomeKind.FAILED))
        blocked = len(self.of_kind(OutcomeKind.BLOCKED))
        return f"Apply: {done} done, {failed} failed, {blocked} blocked"

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": len(self.of_kind(OutcomeKind.DONE)),
            "failed": len(self.of_kind(OutcomeKind.FAILED)),
            "blocked": len(self.of_kind(OutcomeKind.BLOCKED)),
            "outcomes": [o.to_dict() for o in self.outcomes],
        }


class FreshLists:
    """Fresh observations shared between the threads that need one at the same time.

    A thread whose write lost its answer needs a list that *started* after the loss. If a list
    of that provider is under way and began late enough, it waits for that one; if the one
    under way began too early, it waits for it to end and then shares the next one with every
    other thread waiting. A burst of lost answers thus costs two lists at most, not one per
    job, and no thread ever trusts a list that may have missed its own write.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running: dict[Provider, tuple[float, Future[ProviderObservation]]] = {}

    def after(self, client: ProviderClient, moment: float) -> ProviderObservation:
        """An observation of ``client`` that began at or after ``moment`` (monotonic)."""
        with self._changed:
            while True:
                running = self._running.get(client.name)
                if running is None:
                    future: Future[ProviderObservation] = Future()
                    self._running[client.name] = (time.monotonic(), future)
                    mine = True
                    break
                if running[0] >= moment:
                    future, mine = running[1], False
                    break
                self._changed.wait()
        if mine:
            self._observe(client, future)
        return future.result()

    def _observe(self, client: ProviderClient, future: Future[ProviderObservation]) -> None:
        try:
            future.set_result(client.observe())
        except ProviderError as error:
            future.set_result(ProviderObservation(client.name, complete=False, error=str(error)))
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._changed:
                del self._running[client.name]
                self._changed.notify_all()


class _Failed(Exception):
    """A change could not be carried out; the message is ready for the user."""


def _message(error: Exception) -> str:
    if isinstance(error, ProviderError):
        # The outcome already names the provider and the job.
        code = f" (HTTP {error.status})" if error.status is not None else ""
        return f"{error.message}{code}"
    if isinstance(error, DatasetError | _Failed):
        return str(error)
    return f"unexpected error: {type(error).__name__}: {error}"


class ApplyExecutor:
    """Carries out one plan with the given clients (one per provider the plan touches)."""

    def __init__(
        self,
        clients: Mapping[Provider, ProviderClient],
        *,
        parallelism: int = 4,
        progress: UploadProgress = NO_PROGRESS,
        unknown_outcome_attempts: int = DEFAULT_UNKNOWN_OUTCOME_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        self._clients = clients
        self._parallelism = parallelism
        self._progress = progress
        self._attempts = max(1, unknown_outcome_attempts)
        self._sleep = sleep
        self._lists = FreshLists()

    def apply(self, plan: Plan) -> ApplyResult:
        outcomes: dict[int, Outcome] = {}
        for index, change in enumerate(plan.changes):
            if change.action is Action.NOOP:
                continue
            if change.blocked is not None:
                blocker = change.blocked
                message = f"{blocker.reason}; {blocker.fix}"
                outcomes[index] = Outcome(change, OutcomeKind.BLOCKED, message)
        pending = [
            (index, change)
            for index, change in enumerate(plan.changes)
            if change.action is not Action.NOOP and change.blocked is None
        ]

        submits = [(i, c) for i, c in pending if c.action in (Action.CREATE, Action.REPLACE)]
        uploads = [c.upload for _, c in submits if c.upload is not None]
        if uploads:
            self._progress.begin(sum(u.size for u in uploads), len(uploads))
        try:
            self._run_phase(submits, outcomes, self._upload_and_submit)
        finally:
            if uploads:
                self._progress.end()
        self._run_phase(
            [(i, c) for i, c in pending if c.action is Action.UPDATE], outcomes, self._update
        )
        self._run_phase(
            [(i, c) for i, c in pending if c.action is Action.DELETE], outcomes, self._delete
        )
        return ApplyResult(tuple(outcomes[i] for i in sorted(outcomes)))

    # --- phases ----------------------------------------------------------------------------

    def _run_phase(
        self,
        items: Sequence[tuple[int, Change]],
        outcomes: dict[int, Outcome],
        step: Callable[[Change], Outcome],
    ) -> None:
        def run(item: tuple[int, Change]) -> tuple[int, Outcome]:
            index, change = item
            try:
                return index, step(change)
            except Exception as error:  # one job's failure must not stop the others
                return index, Outcome(change, OutcomeKind.FAILED, _message(error))

        if not items:
            return
        workers = min(self._parallelism, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            for index, outcome in pool.map(run, items):
                outcomes[index] = outcome

    # --- steps -----------------------------------------------------------------------------

    def _client(self, change: Change) -> ProviderClient:
        client = self._clients.get(change.provider)
        if client is None:
            raise _Failed(f"{change.provider}: no client configured for this provider")
        return client

    def _upload_and_submit(self, change: Change) -> Outcome:
        """A create or replace: its dataset first (uploaded, reused, or the spec's own
        ``{url:}``/``{id:}``), then the job. Each job goes on to its create as soon as its own
        upload is done, so a crash part-way leaves whole jobs behind, not a heap of uploads."""
        if change.upload is not None:
            try:
                dataset_ref = self._upload(change, change.upload)
            except Exception as error:
                raise _Failed(
                    f"dataset upload failed, job not submitted: {_message(error)}"
                ) from None
        elif change.reuse is not None:
            dataset_ref = change.reuse.remote_id
        elif change.desired is not None and not change.desired.spec.dataset.is_local:
            dataset_ref = change.desired.spec.dataset.value
        else:
            raise _Failed("the plan gives no dataset for this job")
        return self._submit(change, dataset_ref)

    def _upload(self, change: Change, upload: Upload) -> str:
        client = self._client(change)
        # A lost answer to an upload at worst leaves an unused dataset behind: send again.
        ref = self._retry_unknown(lambda: client.upload_dataset(upload, change.desired))
        self._progress.advance(upload.size)
        return ref

    def _submit(self, change: Change, dataset_ref: str) -> Outcome:
        desired = change.desired
        if desired is None:
            raise _Failed("the plan gives no desired job to submit")
        client = self._client(change)
        known = {*change.history, *([change.current.remote_id] if change.current else [])}
        last: OutcomeUnknownError | None = None
        for _ in range(self._attempts):
            try:
                remote_id = client.create(desired, dataset_ref)
            except OutcomeUnknownError as error:
                last = error
                found = self._find_new_job(client, desired, known)
                if found is not None:
                    return Outcome(
                        change,
                        OutcomeKind.DONE,
                        f"submitted as {found} (its answer was lost; found it on a fresh list)",
                        found,
                    )
                continue
            verb = "replaced by" if change.action is Action.REPLACE else "submitted as"
            return Outcome(change, OutcomeKind.DONE, f"{verb} {remote_id}", remote_id)
        lost = _message(last) if last else "no answer"
        raise _Failed(
            f"{lost}; the provider's answer was lost {self._attempts} times and the job is"
            " not listed; run again to check"
        )

    def _find_new_job(
        self, client: ProviderClient, desired: DesiredJob, known: Iterable[str]
    ) -> str | None:
        """The id of a job named ``desired`` that the plan did not know, on a fresh list."""
        observation = self._observe_completely(client)
        if not observation.complete:
            raise _Failed(
                f"a create's answer was lost and the {client.name} job list could not be read"
                f" to check whether it happened ({observation.error}); not sending it again;"
                " run again to check"
            )
        known_ids = set(known)
        for job in identify_jobs(observation, [desired]):
            if job.name == desired.spec.name and job.remote_id not in known_ids:
                return job.remote_id
        return None

    def _update(self, change: Change) -> Outcome:
        if change.target_id is None or change.desired is None or change.desired.spec.access is None:
            raise _Failed("the plan gives no job or access for this update")
        client = self._client(change)
        target, access = change.target_id, change.desired.spec.access
        # Setting access to a value is idempotent: a lost answer is simply sent again.
        self._retry_unknown(lambda: client.update_access(target, access))
        return Outcome(change, OutcomeKind.DONE, f"access set to {access} on {target}", target)

    def _delete(self, change: Change) -> Outcome:
        client = self._client(change)
        for _ in range(self._attempts):
            try:
                client.delete(change)
            except OutcomeUnknownError:
                if self._is_gone(client, change):
                    break
                continue
            break
        else:
            raise _Failed("the provider's answer to the delete was lost repeatedly; run again")
        method = change.delete_method.value.replace("_", " ") if change.delete_method else ""
        return Outcome(change, OutcomeKind.DONE, f"{method} {change.target_id}".strip())

    def _observe_completely(self, client: ProviderClient) -> ProviderObservation:
        """A complete observation begun after this call, asked for up to the attempt bound
        (each observe already retries inside the adapter; a list is a read, safe to ask for
        again)."""
        observation = self._lists.after(client, time.monotonic())
        for attempt in range(1, self._attempts):
            if observation.complete:
                break
            self._sleep(min(OBSERVE_PAUSE_SECONDS * 2**attempt, OBSERVE_PAUSE_MAX_SECONDS))
            observation = self._lists.after(client, time.monotonic())
        return observation

    def _is_gone(self, client: ProviderClient, change: Change) -> bool:
        observation = self._observe_completely(client)
        if not observation.complete or change.current is None:
            return False
        for job in observation.jobs:
            if job.remote_id == change.current.remote_id:
                return not job.health.is_live
        return True

    def _retry_unknown(self, call: Callable[[], _T]) -> _T:
        for attempt in range(self._attempts):
            try:
                return call()
            except OutcomeUnknownError:
                if attempt == self._attempts - 1:
                    raise
        raise AssertionError("unreachable")


def apply_plan(
    plan: Plan,
    clients: Mapping[Provider, ProviderClient],
    *,
    parallelism: int = 4,
    progress: UploadProgress = NO_PROGRESS,
) -> ApplyResult:
    """Carry out ``plan`` (see ``ApplyExecutor``)."""
    return ApplyExecutor(clients, parallelism=parallelism, progress=progress).apply(plan)
