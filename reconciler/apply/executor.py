"""The apply executor: carries out a ``Plan``'s changes against the providers, at most once.

It acts on the plan's fields alone (never on a change's ``reason``), in phases: creates and
replaces, then access updates, then deletes. One change's failure never stops the others.

Creates and replaces go through a pipeline of three stages, each job on to the next as soon as
it is ready for it, never waiting for the others:

1. **upload**: the job's dataset is uploaded (or an uploaded one reused, or the spec's own
   ``{url:}``/``{id:}`` taken), up to ``parallelism`` at once. Datasets the provider must
   validate first (Cohere) are uploaded before the others, so that their validation, the
   longest wait, starts as early as it can;
2. **validation** (``reconciler.apply.validation``): a dataset the provider validates
   asynchronously is handed to one poller per provider, which holds no worker and asks after
   all the datasets it waits for in one list request per tick; a reused dataset still
   validating (an apply stopped while waiting for it) is waited for the same way, never
   uploaded again;
3. **submit**: the job is created, up to ``parallelism`` at once, as soon as its dataset is
   ready. A Segmind or Qubrid job is never held up by a Cohere dataset still validating.

A job whose upload or validation failed is not submitted. An apply killed in any stage leaves
whole jobs and datasets behind, which the next run reuses: an uploaded dataset, validated or
not, is listed with its marker and reused rather than uploaded again.

Every create is a paid training, so a create is sent at most once while its outcome is not
known (DESIGN, principle 7). Retries of transient failures live in the adapters, which never
resend a create whose request went out. A create whose answer was lost
(``OutcomeUnknownError``: a dropped connection, a read timeout, a 5xx, an unreadable answer) is
looked for on fresh lists (begun after the loss; lost answers at the same moment share them),
by its name and by the dataset it was sent with. Found: done. Not found, it is sent again only
once a complete list begun a whole settle window after the send still lacks it; otherwise it
is reported **unconfirmed**, the run fails, and the write journal (``reconciler.apply.journal``)
remembers it so that the next run, on any machine, settles it before sending anything. A
create turned away untaken every time it was sent (429, 408: the adapter's retries ran out)
made nothing: the journal forgets it, as it does a refused one.

Before the first create goes out, this run's creates are recorded in the journal as intended
and the ``WriteGuard`` makes that record visible to every other machine (the writer lease);
before each write the guard is asked whether writes may still go out (the lease may be lost or
about to expire), and a write that may not is never sent. Blocked changes are skipped and
reported; the result (``reconciler.core.outcome``) says whether anything failed, was blocked or is
unconfirmed (exit 1).

A provider may refuse the service itself while its lists still answer (``ServiceRefusedError``:
Cohere's deprecated fine-tuning refusing an upload or a create). That answer holds for every
change of the provider, so from then on nothing more is sent to it in this run: the refused
change and each of the provider's changes not yet sent are reported blocked, with the short
reason the plan gives a refusing provider, and the refusal's message is kept once on the result
(``ApplyResult.refusals``). A refused create was answered 4xx: the journal forgets it (nothing
was made). The other providers go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from reconciler.apply.journal import WriteJournal
from reconciler.apply.validation import Outcomes, ValidationWaits, Waiting
from reconciler.apply.writer import LocalGuard, WriteGuard, WritesStoppedError
from reconciler.config import DEFAULT_CONFIRM_WAIT, DEFAULT_SETTLE_WINDOW
from reconciler.core.action import Action
from reconciler.core.observed import ProviderObservation
from reconciler.core.outcome import ApplyResult, Outcome, OutcomeKind, ProviderRefusal
from reconciler.core.plan import BlockKind, Change, Plan, Upload
from reconciler.core.spec import Provider
from reconciler.datasets.files import DatasetError
from reconciler.diff import identify_jobs, refused_blocker
from reconciler.observing import observe
from reconciler.progress import NO_PROGRESS, ApplyProgress
from reconciler.providers.base import (
    AccessUpdater,
    ClientClosedError,
    DatasetValidator,
    JobDeleter,
    OutcomeUnknownError,
    PermanentError,
    ProviderClient,
    ProviderError,
    RetryableError,
    ServiceRefusedError,
)
from reconciler.providers.profiles import PROFILES
from reconciler.redact import strip_url_secrets

# How many times a create whose outcome was lost (and then proven not to have happened) is
# sent in all; also how many times a list that could not be read is asked for again to check.
DEFAULT_UNKNOWN_OUTCOME_ATTEMPTS = 8
# Pauses between lists asked for again (the adapter has already retried each one).
OBSERVE_PAUSE_SECONDS = 0.25
OBSERVE_PAUSE_MAX_SECONDS = 4.0
# After a create's answer is lost: the pauses between the fresh lists that look for its job,
# as shares of `confirm_wait`, each twice the one before (0.5, 1, 2 and 4 s of the default
# seven and a half). A list that lags only briefly shows the job within them; a longer lag
# leaves the create unconfirmed for the next run to settle.
_CONFIRM_SHARES = (1 / 15, 2 / 15, 4 / 15, 8 / 15)


def confirm_pauses(confirm_wait: float) -> tuple[float, ...]:
    """The pauses between the lists that look for a lost create's job, adding up to
    ``confirm_wait`` seconds."""
    return tuple(confirm_wait * share for share in _CONFIRM_SHARES)


CONFIRM_PAUSES = confirm_pauses(DEFAULT_CONFIRM_WAIT)

_T = TypeVar("_T")


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
            future.set_result(observe(client))
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._changed:
                del self._running[client.name]
                self._changed.notify_all()


class _Failed(Exception):
    """A change could not be carried out; the message is ready for the user."""


def _message(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        # The outcome already names the provider and the job.
        code = f" (HTTP {error.status})" if error.status is not None else ""
        return f"{error.message}{code}"
    if isinstance(error, DatasetError | _Failed):
        return str(error)
    return f"unexpected error: {type(error).__name__}: {error}"


class ApplyExecutor:
    """Carries out one plan with the given clients (one per provider the plan touches).

    ``guard`` is the run's writer lease (``LocalGuard``: none); ``settle_window`` is how long
    (seconds) a provider's list may lag behind a create; ``confirm_pauses`` are the pauses
    between the fresh lists that look for a create whose answer was lost; ``validation_pause``
    is the wait between two looks at the datasets being validated (by default a wait that ends
    early when the apply is over; tests pass one that drives the sandbox's clock).
    """

    def __init__(
        self,
        clients: Mapping[Provider, ProviderClient],
        *,
        parallelism: int = 4,
        progress: ApplyProgress = NO_PROGRESS,
        unknown_outcome_attempts: int = DEFAULT_UNKNOWN_OUTCOME_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        guard: WriteGuard | None = None,
        settle_window: float = DEFAULT_SETTLE_WINDOW,
        confirm_pauses: Sequence[float] = CONFIRM_PAUSES,
        validation_pause: Callable[[float], None] | None = None,
    ) -> None:
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        self._clients = clients
        self._parallelism = parallelism
        self._progress = progress
        self._attempts = max(1, unknown_outcome_attempts)
        self._sleep = sleep
        self._guard: WriteGuard = guard or LocalGuard(settle_window)
        self._window = settle_window
        self._confirm_pauses = tuple(confirm_pauses)
        self._validation_pause = validation_pause
        self._lists = FreshLists()
        # The providers that refused the service in this run, each with its one message.
        self._refusals: dict[Provider, str] = {}
        self._refusals_lock = threading.Lock()

    @property
    def journal(self) -> WriteJournal:
        return self._guard.journal

    def apply(self, plan: Plan) -> ApplyResult:
        outcomes: dict[int, Outcome] = {}
        for index, change in enumerate(plan.changes):
            if change.action is Action.NOOP or change.blocked is None:
                continue
            blocker = change.blocked
            kind = OutcomeKind.BLOCKED
            if blocker.is_warning:
                kind = OutcomeKind.WARNING
            elif blocker.kind is BlockKind.UNCONFIRMED:
                kind = OutcomeKind.UNCONFIRMED
            outcomes[index] = Outcome(change, kind, f"{blocker.reason}; {blocker.fix}")
        pending = [
            (index, change)
            for index, change in enumerate(plan.changes)
            if change.action is not Action.NOOP and change.blocked is None
        ]

        submits = [(i, c) for i, c in pending if c.action in (Action.CREATE, Action.REPLACE)]
        if submits:
            # Recorded where every machine sees it before the first create goes out: a run
            # that dies from here on leaves its creates behind as possibly sent.
            self.journal.intend(c for _, c in submits)
            try:
                self._guard.checkpoint()
            except WritesStoppedError as error:
                for index, change in submits:
                    self.journal.not_sent(change)
                    outcomes[index] = Outcome(change, OutcomeKind.FAILED, f"not sent: {error}")
                submits = []
        uploads = [c.upload for _, c in submits if c.upload is not None]
        if submits:
            size = sum(upload.size for upload in uploads)
            self._progress.begin(uploads=len(uploads), upload_bytes=size, submits=len(submits))
            try:
                _Pipeline(self, submits, outcomes).run()
            finally:
                self._progress.end()
        self._run_phase(
            [(i, c) for i, c in pending if c.action is Action.UPDATE], outcomes, self._update
        )
        self._run_phase(
            [(i, c) for i, c in pending if c.action is Action.DELETE], outcomes, self._delete
        )
        with self._refusals_lock:
            refusals = tuple(ProviderRefusal(p, m) for p, m in sorted(self._refusals.items()))
        return ApplyResult(tuple(outcomes[i] for i in sorted(outcomes)), refusals)

    # --- phases ----------------------------------------------------------------------------

    def _run_phase(
        self,
        items: Sequence[tuple[int, Change]],
        outcomes: dict[int, Outcome],
        step: Callable[[Change], Outcome],
    ) -> None:
        def run(item: tuple[int, Change]) -> tuple[int, Outcome]:
            index, change = item
            if self._has_refused(change.provider):
                return index, self._refused(change)
            try:
                return index, step(change)
            except ServiceRefusedError as error:  # the provider refuses all its changes
                self._refuse(change.provider, error)
                return index, self._refused(change)
            except Exception as error:  # one job's failure must not stop the others
                return index, Outcome(change, OutcomeKind.FAILED, _message(error))

        if not items:
            return
        workers = min(self._parallelism, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            for index, outcome in pool.map(run, items):
                outcomes[index] = outcome

    # --- a provider refusing the service ---------------------------------------------------

    def _refuse(self, provider: Provider, error: ServiceRefusedError) -> None:
        """Remember that ``provider`` refuses the service; the first message is the one kept."""
        with self._refusals_lock:
            self._refusals.setdefault(provider, error.message)

    def _has_refused(self, provider: Provider) -> bool:
        with self._refusals_lock:
            return provider in self._refusals

    @staticmethod
    def _refused(change: Change) -> Outcome:
        """``change`` blocked by its provider's refusal, pointing at the message said once."""
        blocker = refused_blocker(change.provider)
        return Outcome(change, OutcomeKind.BLOCKED, f"{blocker.reason}; {blocker.fix}")

    # --- steps -----------------------------------------------------------------------------

    def _client(self, change: Change) -> ProviderClient:
        client = self._clients.get(change.provider)
        if client is None:
            raise _Failed(f"{change.provider}: no client configured for this provider")
        return client

    def _may_write(self) -> None:
        reason = self._guard.stopped()
        if reason is not None:
            raise _Failed(f"not sent: {reason}")

    def _validator(self, change: Change) -> DatasetValidator | None:
        """The client of ``change``'s provider as a ``DatasetValidator``, when its datasets
        validate asynchronously (declared by its profile, offered by its adapter)."""
        if change.provider not in self._clients:
            return None
        client = self._clients[change.provider]
        if PROFILES[change.provider].capabilities.validates_datasets and isinstance(
            client, DatasetValidator
        ):
            return client
        return None

    def _dataset_for(self, change: Change) -> _Dataset:
        """A create's or replace's dataset: uploaded, reused, or the spec's own
        ``{url:}``/``{id:}``, and whether the provider must validate it before the submit.
        Raises ``_Failed`` (its message ready) when there is none; a provider refusing the
        service raises its ``ServiceRefusedError``."""
        validator = self._validator(change)
        if change.upload is not None:
            try:
                self._may_write()
                return self._upload(change, change.upload, validator)
            except ServiceRefusedError:
                raise  # not this job's failure: the provider's, said once
            except Exception as error:
                raise _Failed(
                    f"dataset upload failed, job not submitted: {_message(error)}"
                ) from None
        if change.reuse is not None:
            reuse = change.reuse
            waits = validator if reuse.validating else None
            return _Dataset(reuse.remote_id, waits, reuse.created_at)
        if change.desired is not None and not change.desired.spec.dataset.is_local:
            return _Dataset(change.desired.spec.dataset.value)
        raise _Failed("the plan gives no dataset for this job")

    def _upload(
        self, change: Change, upload: Upload, validator: DatasetValidator | None
    ) -> _Dataset:
        client = self._client(change)
        # A lost answer to an upload at worst leaves an unused dataset behind: send again.
        if validator is not None:
            ref = self._retry_unknown(lambda: validator.start_upload(upload, change.desired))
        else:
            ref = self._retry_unknown(lambda: client.upload_dataset(upload, change.desired))
        self._progress.uploaded(upload.size)
        return _Dataset(ref, validator)

    def _submit(self, change: Change, dataset_ref: str) -> Outcome:
        desired = change.desired
        if desired is None:
            self.journal.not_sent(change)
            raise _Failed("the plan gives no desired job to submit")
        client = self._client(change)
        verb = "replaced by" if change.action is Action.REPLACE else "submitted as"
        lost: OutcomeUnknownError | None = None
        for attempt in range(self._attempts):
            try:
                self._may_write()
            except _Failed:
                if lost is None:
                    self.journal.not_sent(change)
                else:
                    self.journal.unknown(change)
                raise
            sent_at = self.journal.sending(change)
            try:
                remote_id = client.create(desired, dataset_ref)
            except OutcomeUnknownError as error:
                lost = error
                found, absent = self._settle(client, change, dataset_ref, sent_at)
                if found is not None:
                    self.journal.confirmed(change, found)
                    return Outcome(
                        change,
                        OutcomeKind.DONE,
                        f"{verb} {found} (its answer was lost; found it on a fresh list)",
                        found,
                    )
                if absent and attempt + 1 < self._attempts:
                    continue  # a list a whole settle window later proves it never happened
                self.journal.unknown(change)
                return self._unconfirmed(change, error, sent_at)
            except (RetryableError, ClientClosedError):
                # Every send of it was turned away untaken (429, 408, a conflict, never
                # reached) or none went out (the run stopped): nothing was made by this
                # attempt, as with a refusal; an earlier lost one may have been.
                if lost is None:
                    self.journal.refused(change, sent_at)
                else:
                    self.journal.unknown(change)
                raise
            except PermanentError as error:
                # Refused: nothing was made by this attempt; an earlier lost one may have been.
                if lost is None:
                    self.journal.refused(change, sent_at)
                    raise
                self.journal.unknown(change)
                if isinstance(error, ServiceRefusedError):
                    # The provider refuses from now on, but this job may exist already.
                    self._refuse(change.provider, error)
                    return self._unconfirmed(change, lost, sent_at)
                raise
            self.journal.confirmed(change, remote_id)
            return Outcome(change, OutcomeKind.DONE, f"{verb} {remote_id}", remote_id)
        raise AssertionError("unreachable: the last attempt returns")

    def _unconfirmed(self, change: Change, error: OutcomeUnknownError, sent_at: float) -> Outcome:
        settles = datetime.fromtimestamp(sent_at + self._window, UTC)
        return Outcome(
            change,
            OutcomeKind.UNCONFIRMED,
            f"{error.message}; the {change.provider} list does not show the job yet, so it may"
            " or may not exist: nothing is sent again until a list begun after"
            f" {settles:%Y-%m-%d %H:%M:%S} UTC still lacks it; run again after then",
        )

    def _settle(
        self, client: ProviderClient, change: Change, dataset_ref: str, sent_at: float
    ) -> tuple[str | None, bool]:
        """After a lost answer: ``(the new job's id, False)`` once a fresh list shows it,
        ``(None, True)`` once a complete list begun a settle window after ``sent_at`` still
        lacks it, ``(None, False)`` when neither could be told in this run's patience."""
        for pause in (*self._confirm_pauses, None):
            observation = self._lists.after(client, time.monotonic())
            if observation.complete:
                found = self._new_job(observation, change, dataset_ref)
                if found is not None:
                    return found, False
                started = observation.started_at
                if started is not None and started >= sent_at + self._window:
                    return None, True
            if pause is None:
                break
            self._sleep(pause)
        return None, False

    def _new_job(
        self, observation: ProviderObservation, change: Change, dataset_ref: str
    ) -> str | None:
        """The id of a job on ``observation`` that ``change``'s create made: one of its name
        and owner, or on the dataset it uploaded for it, that the plan did not know."""
        desired = change.desired
        assert desired is not None
        known = {*change.history, *([change.current.remote_id] if change.current else [])}
        uploaded = strip_url_secrets(dataset_ref) if change.upload is not None else None
        for job in identify_jobs(observation, [desired], desired.owner):
            if job.remote_id in known:
                continue
            if job.name == desired.spec.name and job.owner == desired.owner:
                return job.remote_id
            if uploaded is not None and job.dataset_ref == uploaded:
                return job.remote_id
        return None

    def _update(self, change: Change) -> Outcome:
        if change.target_id is None or change.desired is None or change.desired.spec.access is None:
            raise _Failed("the plan gives no job or access for this update")
        client = self._client(change)
        profile = PROFILES[change.provider]
        if not profile.capabilities.updates_access or not isinstance(client, AccessUpdater):
            raise _Failed(f"{profile.title} jobs cannot change their access in place")
        target, access = change.target_id, change.desired.spec.access
        self._may_write()
        # Setting access to a value is idempotent: a lost answer is simply sent again.
        self._retry_unknown(lambda: client.update_access(target, access))
        return Outcome(change, OutcomeKind.DONE, f"access set to {access} on {target}", target)

    def _delete(self, change: Change) -> Outcome:
        client = self._client(change)
        profile = PROFILES[change.provider]
        if not profile.capabilities.deletes_jobs or not isinstance(client, JobDeleter):
            raise _Failed(
                f"{profile.title} has no delete; delete the job in the {profile.title} console"
                " if it is no longer wanted"
            )
        for _ in range(self._attempts):
            self._may_write()
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


@dataclass(frozen=True)
class _Dataset:
    """A create's dataset: the reference the submit takes, the client that waits for its
    validation when the provider must validate it first (else None), and when it was made
    (its clock; for a reused one)."""

    ref: str
    validator: DatasetValidator | None = None
    since: datetime | None = None


class _Pipeline:
    """One apply's creates and replaces through the upload, validation and submit stages (see
    the module docstring). ``run`` returns once every one of them has an outcome."""

    def __init__(
        self,
        executor: ApplyExecutor,
        changes: Sequence[tuple[int, Change]],
        outcomes: dict[int, Outcome],
    ) -> None:
        self._executor = executor
        self._outcomes = outcomes
        self._left = len(changes)
        self._done = threading.Condition()
        # Set when the apply stops early (an interrupt): no upload or create starts after it.
        self._stopping = threading.Event()
        # Datasets the provider validates first: their wait, the longest, starts earliest.
        self._order = sorted(changes, key=lambda item: executor._validator(item[1]) is None)
        workers = executor._parallelism
        self._uploads = ThreadPoolExecutor(workers, thread_name_prefix="apply-upload")
        self._submits = ThreadPoolExecutor(workers, thread_name_prefix="apply-submit")
        self._waits = ValidationWaits(
            Outcomes(
                ready=lambda waiting: self._ending_wait(
                    waiting, lambda index, change: self._validated(index, change, waiting)
                ),
                failed=lambda waiting, message: self._ending_wait(
                    waiting, lambda index, change: self._not_validated(index, change, message)
                ),
                refused=lambda waiting, error: self._ending_wait(
                    waiting, lambda index, change: self._refused(index, change, error)
                ),
            ),
            attempts=executor._attempts,
            pause=executor._validation_pause,
        )

    def run(self) -> None:
        try:
            for index, change in self._order:
                self._uploads.submit(self._ending, index, change, self._upload_stage)
            with self._done:
                while self._left:
                    self._done.wait()
        finally:
            # Normally nothing is queued by now. Stopped early (an interrupt), what has not
            # started is dropped: its create stays intended in the journal, never sent. The
            # uploads and creates under way end first (a create's answer goes to the journal),
            # and while they do, no worker they free starts another one, nor takes a dataset
            # an upload or a poller hands on.
            self._stopping.set()
            self._submits.shutdown(wait=False, cancel_futures=True)
            self._uploads.shutdown(wait=True, cancel_futures=True)
            self._waits.close()
            self._submits.shutdown(wait=True)

    def _finish(self, index: int, outcome: Outcome) -> None:
        """``index``'s change has its outcome (the first one given: ``_ending`` may come after)."""
        with self._done:
            if index in self._outcomes:
                return
            self._outcomes[index] = outcome
            self._left -= 1
            self._done.notify_all()

    def _ending(self, index: int, change: Change, stage: Callable[[int, Change], None]) -> None:
        """Runs ``stage`` of ``change``; should anything in it raise, the change still ends
        (failed, naming the error): ``run`` waits for every change to end, so one left without
        an outcome would hold the apply forever."""
        try:
            stage(index, change)
        except BaseException as error:
            self._finish(index, Outcome(change, OutcomeKind.FAILED, _message(error)))
            raise

    def _ending_wait(self, waiting: Waiting, stage: Callable[[int, Change], None]) -> None:
        """``_ending`` for what a validation poller hands back about ``waiting``'s change."""
        ticket = waiting.ticket
        assert isinstance(ticket, tuple)
        self._ending(ticket[0], ticket[1], stage)

    def _hand_on(self, index: int, change: Change, dataset_ref: str) -> None:
        """``change``'s dataset is ready: on to the submit stage, unless the apply stops."""
        if self._stopping.is_set():
            return
        try:
            self._submits.submit(
                self._ending,
                index,
                change,
                lambda index, change: self._submit_stage(index, change, dataset_ref),
            )
        except RuntimeError:
            return  # the submit stage was shut down a moment ago: the apply stops

    def _upload_stage(self, index: int, change: Change) -> None:
        executor = self._executor
        if self._stopping.is_set():
            return
        if executor._has_refused(change.provider):
            self._not_sent(index, change, executor._refused(change))
            return
        try:
            dataset = executor._dataset_for(change)
        except ServiceRefusedError as error:
            executor._refuse(change.provider, error)
            self._not_sent(index, change, executor._refused(change))
            return
        except Exception as error:  # one job's failure must not stop the others
            self._not_sent(index, change, Outcome(change, OutcomeKind.FAILED, _message(error)))
            return
        except BaseException:
            executor.journal.not_sent(change)
            raise
        if dataset.validator is None:
            self._hand_on(index, change, dataset.ref)
            return
        executor._progress.waiting()
        self._waits.wait_for(
            dataset.validator, change.provider, Waiting(dataset.ref, dataset.since, (index, change))
        )

    def _validated(self, index: int, change: Change, waiting: Waiting) -> None:
        self._executor._progress.validated()
        self._hand_on(index, change, waiting.dataset_id)

    def _not_validated(self, index: int, change: Change, message: str) -> None:
        self._executor._progress.validated()
        failed = f"dataset not validated, job not submitted: {message}"
        self._not_sent(index, change, Outcome(change, OutcomeKind.FAILED, failed))

    def _refused(self, index: int, change: Change, error: ServiceRefusedError) -> None:
        self._executor._progress.validated()
        self._executor._refuse(change.provider, error)
        self._not_sent(index, change, self._executor._refused(change))

    def _submit_stage(self, index: int, change: Change, dataset_ref: str) -> None:
        executor = self._executor
        if self._stopping.is_set():
            return
        try:
            if executor._has_refused(change.provider):
                executor.journal.not_sent(change)
                outcome = executor._refused(change)
            else:
                outcome = executor._submit(change, dataset_ref)
        except ServiceRefusedError as error:  # the provider refuses all its changes
            executor._refuse(change.provider, error)
            outcome = executor._refused(change)
        except Exception as error:  # one job's failure must not stop the others
            outcome = Outcome(change, OutcomeKind.FAILED, _message(error))
        # The outcome first: what the submit did stands, whatever the progress display does.
        self._finish(index, outcome)
        executor._progress.submitted()

    def _not_sent(self, index: int, change: Change, outcome: Outcome) -> None:
        """``change`` ends before its submit: its intent is forgotten."""
        self._executor.journal.not_sent(change)
        self._finish(index, outcome)
        self._executor._progress.submitted()


def apply_plan(
    plan: Plan,
    clients: Mapping[Provider, ProviderClient],
    *,
    parallelism: int = 4,
    progress: ApplyProgress = NO_PROGRESS,
    guard: WriteGuard | None = None,
    confirm_wait: float = DEFAULT_CONFIRM_WAIT,
) -> ApplyResult:
    """Carry out ``plan`` (see ``ApplyExecutor``) within its settle window, looking for the
    job of a create whose answer was lost for ``confirm_wait`` seconds."""
    return ApplyExecutor(
        clients,
        parallelism=parallelism,
        progress=progress,
        guard=guard,
        settle_window=plan.options.settle_window,
        confirm_pauses=confirm_pauses(confirm_wait),
    ).apply(plan)
