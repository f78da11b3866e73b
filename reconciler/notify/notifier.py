"""The notifier: one round of observations (or one apply) in, notifications out.

``Notifier.for_settings`` makes one from ``notify:`` in ``reconciler.yaml`` and the
environment (None: not configured, or its variable unset or not a URL, which ``warn`` says
once). ``jobs`` finds the health events of a round of statuses against the ledger and sends
each; ``apply`` announces an apply's failed writes, once per distinct set of failed changes
(an apply that fails the same way on every resync is announced once, and again only after an
apply without failures). Nothing here raises for a notification: a ledger that cannot be
written or a webhook that fails is said through ``warn``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from reconciler.config import NotifySettings, Settings
from reconciler.core.spec import Provider
from reconciler.notify.events import (
    ApplyFailedEvent,
    Event,
    FailedWrite,
    HealthEvent,
    RunInfo,
    health_events,
)
from reconciler.notify.ledger import open_ledger
from reconciler.notify.payload import payload
from reconciler.notify.webhook import DEFAULT_RETRY_WAIT, WebhookSender, webhook_url_problem
from reconciler.status import JobStatus


class Notifier:
    """Sends the notifications of the rounds it is shown, remembering them in ``folder``."""

    def __init__(
        self,
        settings: NotifySettings,
        url: str,
        folder: Path,
        *,
        sandbox: bool,
        warn: Callable[[str], None],
        retry_wait: float = DEFAULT_RETRY_WAIT,
    ) -> None:
        self.format = settings.format
        self._folder = folder
        self._sandbox = sandbox
        self._warn = warn
        self._sender = WebhookSender(url, warn=warn, retry_wait=retry_wait)

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        folder: Path,
        *,
        sandbox: bool,
        warn: Callable[[str], None],
        environ: Mapping[str, str],
    ) -> Notifier | None:
        """The notifier ``settings`` ask for, or None (``warn`` says why when one was asked
        for but cannot be made)."""
        notify = settings.notify
        if notify is None:
            return None
        url = environ.get(notify.url_variable, "").strip()
        if not url:
            warn(
                f"notify: {notify.url_variable} is not set, so no notification is sent; set it"
                " to the webhook's URL"
            )
            return None
        problem = webhook_url_problem(url)
        if problem is not None:
            warn(f"notify: {notify.url_variable} is no webhook URL ({problem}); nothing is sent")
            return None
        return cls(notify, url, folder, sandbox=sandbox, warn=warn)

    def jobs(
        self, statuses: Sequence[JobStatus], run: RunInfo, unread: Collection[Provider] = ()
    ) -> list[HealthEvent]:
        """Announce each managed job that finished or failed since it was last seen."""
        try:
            with open_ledger(self._folder, sandbox=self._sandbox) as ledger:
                ledger.jobs, events = health_events(ledger.jobs, statuses, unread)
                for event in events:
                    self._send(event, run)
        except OSError as error:
            self._warn(f"notify: the ledger in {self._folder} cannot be written ({error})")
            return []
        return events

    def apply(self, failures: Sequence[FailedWrite], run: RunInfo) -> ApplyFailedEvent | None:
        """Announce an apply's failed writes, unless the same changes failed last time."""
        event = ApplyFailedEvent(tuple(failures))
        try:
            with open_ledger(self._folder, sandbox=self._sandbox) as ledger:
                if not failures:
                    ledger.apply_failure = None
                    return None
                if ledger.apply_failure == event.fingerprint:
                    return None
                ledger.apply_failure = event.fingerprint
                self._send(event, run)
        except OSError as error:
            self._warn(f"notify: the ledger in {self._folder} cannot be written ({error})")
            return None
        return event

    def _send(self, event: Event, run: RunInfo) -> None:
        self._sender.send(payload(event, run, self.format), event.kind)

    def close(self) -> None:
        self._sender.close()
