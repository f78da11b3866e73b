"""Waiting for datasets to validate without holding a worker: one poller per provider.

A Cohere dataset is validated asynchronously after its upload, and a job may use it only once
it is ``validated``. An apply does not keep a worker on each such dataset: the upload stage
hands it to ``ValidationWaits`` and goes on with the next upload. One poller thread per
provider (``DatasetValidator``) asks, every ``validation_poll`` seconds, after all the datasets
of that provider waiting at that moment in one list request (``validations``), whatever their
number, and hands each dataset to the submit stage as soon as the list shows it validated.
Polls thus grow with the time spent waiting, not with the number of datasets.

A dataset the list does not show (a list that lags behind an upload) or shows without a status
is looked for on the list again; after ``UNSETTLED_TICKS`` ticks it is also looked at alone
(``validation_of``, a details endpoint), and after twice that many it counts as an upload that
did not take. A failed validation, a dataset still validating after the provider's
``validation_timeout``, or a list that could not be read ``attempts`` ticks running ends the
wait of the datasets concerned with a message for the user; the provider refusing the service
ends every wait of that provider. Reads only: nothing here writes, so nothing here needs the
writer lease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.core.spec import Provider
from reconciler.providers.base import (
    DatasetValidator,
    ProviderError,
    ServiceRefusedError,
    Validated,
    Validation,
)
from reconciler.providers.profiles import PROFILES

# Ticks a dataset may go unseen (or without a status) on the list before it is also looked at
# alone; after twice as many, it is an upload that did not take.
UNSETTLED_TICKS = 10


@dataclass
class Waiting:
    """A dataset waited for: its id, when it was made (the provider's clock, when known),
    and what the submit stage needs once it has validated (``ticket``)."""

    dataset_id: str
    since: datetime | None
    ticket: object
    started: float = field(default_factory=time.monotonic)
    misses: int = 0


@dataclass(frozen=True)
class Outcomes:
    """Where the pollers hand each dataset when its wait ends: ``ready`` (validated),
    ``failed`` (with a message for the user) or ``refused`` (the provider refuses the
    service; its ``ServiceRefusedError``)."""

    ready: Callable[[Waiting], None]
    failed: Callable[[Waiting, str], None]
    refused: Callable[[Waiting, ServiceRefusedError], None]


class ValidationWaits:
    """The datasets an apply waits for, one poller thread per provider.

    ``pause(seconds)`` is the wait between two ticks (by default it ends early on ``close``);
    ``attempts`` is how many ticks running a list may fail before the waits end.
    """

    def __init__(
        self,
        outcomes: Outcomes,
        *,
        attempts: int,
        pause: Callable[[float], None] | None = None,
    ) -> None:
        self._outcomes = outcomes
        self._attempts = attempts
        self._closed = threading.Event()
        self._pause = pause or self._closed.wait
        self._lock = threading.Condition()
        self._pending: dict[Provider, list[Waiting]] = {}
        self._threads: list[threading.Thread] = []

    def wait_for(self, client: DatasetValidator, provider: Provider, waiting: Waiting) -> None:
        """Wait for ``waiting``'s dataset on ``provider`` (whose client is ``client``)."""
        with self._lock:
            if provider not in self._pending:
                self._pending[provider] = []
                thread = threading.Thread(
                    target=self._poll,
                    args=(client, provider),
                    name=f"validation-{provider}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
            self._pending[provider].append(waiting)
            self._lock.notify_all()

    def close(self) -> None:
        """Stop the pollers (every wait has ended, or the apply is over)."""
        with self._lock:
            self._closed.set()
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()

    def _poll(self, client: DatasetValidator, provider: Provider) -> None:
        failures = 0
        while True:
            with self._lock:
                while not self._pending[provider] and not self._closed.is_set():
                    self._lock.wait()
            if self._closed.is_set():
                return
            # A tick after the pause: a dataset handed over a moment ago is not validated yet.
            self._pause(client.validation_poll)
            if self._closed.is_set():
                return
            with self._lock:
                waiting = list(self._pending[provider])
            try:
                failures = self._tick(client, provider, waiting, failures)
            except Exception as error:  # the poller must never die with waits in its care
                # Not a provider's answer but a fault of ours or an answer past belief: a
                # poller that died here would leave its datasets waited for by nobody, and
                # the apply waiting for them forever. Their waits end; nothing was sent.
                failures = 0
                with self._lock:
                    left = [item for item in waiting if item in self._pending[provider]]
                for item in left:
                    self._take(provider, item)
                    self._outcomes.failed(
                        item,
                        "its validation could not be looked at: unexpected error:"
                        f" {type(error).__name__}: {error}",
                    )

    def _tick(
        self, client: DatasetValidator, provider: Provider, waiting: list[Waiting], failures: int
    ) -> int:
        """One look at ``waiting``, the datasets of ``provider`` waited for; returns the lists
        that failed running, this one included."""
        try:
            shown = client.validations([w.dataset_id for w in waiting], since=_oldest(waiting))
        except ServiceRefusedError as error:
            for item in waiting:
                self._take(provider, item)
                self._outcomes.refused(item, error)
            return 0
        except ProviderError as error:
            if failures + 1 < self._attempts:
                return failures + 1
            for item in waiting:
                self._take(provider, item)
                self._outcomes.failed(
                    item, f"its validation could not be looked at: {error.message}"
                )
            return 0
        for item in waiting:
            self._settle(client, provider, item, shown.get(item.dataset_id))
        return 0

    def _settle(
        self,
        client: DatasetValidator,
        provider: Provider,
        item: Waiting,
        shown: Validation | None,
    ) -> None:
        title = PROFILES[provider].title
        if shown is None or shown.state is Validated.UNSETTLED:
            item.misses += 1
            if item.misses < UNSETTLED_TICKS:
                return
            try:
                shown = client.validation_of(item.dataset_id)
            except ServiceRefusedError as error:
                self._take(provider, item)
                self._outcomes.refused(item, error)
                return
            except ProviderError:
                shown = None  # looked at again next tick, within the same bound
            if shown is None or shown.state is Validated.UNSETTLED:
                if item.misses >= 2 * UNSETTLED_TICKS:
                    what = "no validation status" if shown is not None else "no such dataset"
                    message = (
                        f"{title} still shows {what} for dataset {item.dataset_id} after"
                        f" {item.misses} looks; the upload did not take: run again to upload it"
                        " anew"
                    )
                    self._take(provider, item)
                    self._outcomes.failed(item, message)
                return
        if shown.state is Validated.VALIDATED:
            self._take(provider, item)
            self._outcomes.ready(item)
        elif shown.state is Validated.FAILED:
            self._take(provider, item)
            self._outcomes.failed(
                item,
                f"{title} did not accept dataset {item.dataset_id} ({shown.reason}); fix the file"
                " and run again",
            )
        elif time.monotonic() - item.started > client.validation_timeout:
            self._take(provider, item)
            self._outcomes.failed(
                item,
                f"dataset {item.dataset_id} is still validating after"
                f" {client.validation_timeout:.0f} s; run again later",
            )

    def _take(self, provider: Provider, item: Waiting) -> None:
        """``item``'s wait ends: the pollers look for it no more."""
        with self._lock:
            self._pending[provider].remove(item)


def _oldest(waiting: list[Waiting]) -> datetime | None:
    """When the oldest of ``waiting`` was made, if known for one of them."""
    known = [item.since for item in waiting if item.since is not None]
    return min(known, default=None)
