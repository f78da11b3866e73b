"""The daemon: one worker converging the checkout on every trigger, for as long as it runs.

What it applies (DESIGN, principle 8: git is the source of truth):

- **In a git checkout**, the committed tree. A new commit (HEAD moved: a commit, a checkout,
  ``--pull``) triggers a run within a second; the run applies HEAD, read from a snapshot of its
  tree (``reconciler.watch.commits``). A file saved but not committed triggers a *preview*: the
  working tree is planned and the plan logged, and nothing is ever applied from it.
- **Outside git, or with ``--worktree``**, the files as saved, but only once no file changed
  for ``quiet_period`` seconds: an editor's intermediate saves (``name: mascot-v`` then, a
  moment later, ``mascot-v2``) must not each start a paid training. File events start and
  extend the quiet period, every run waits for it (a timer or webhook run too), and a run
  checks the files' change times once it has read them, which also shows a save made just
  before the run that the watcher had not reported yet (and, at start, one made before the
  daemon ran).

Triggers (start, commits, file events, the resync timer, the webhook) go into one
``TriggerQueue``; a single worker takes them, so two converges never overlap and a burst of
triggers during a run becomes one next run. Runs asked for only by webhooks start at least
``webhook_spacing`` seconds apart, so a burst of deliveries costs a few runs however long it
lasts; each run logs how many deliveries it answers. A run re-reads ``reconciler.yaml`` and
every spec, plans against fresh observations and, when there is something to write, takes the
writer lease and applies: the command line's composition (``reconciler.run.open_run``, then
``reconciler.apply.converge``) with the daemon's settings, its clients kept between runs and
no early lists. Nothing a run meets ends the daemon: invalid specs are reported (once per
distinct set of problems) and nothing is applied until they are fixed; a provider outage
fails the run and the next resync backs off, up to a cap, until a run succeeds again. Each
run's job statuses are compared with the previous run's to log transitions, and with
``notify:`` in ``reconciler.yaml`` a webhook is told when a job finishes or fails and when an
apply fails (``reconciler.notify``, its ledger under the state folder so that a restart
announces nothing twice). State kept between runs is bounded: the last run, a failure count,
one status label per managed job, the outputs of the finished ones.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from reconciler.apply.converge import converge
from reconciler.apply.writer import WriterUnavailableError
from reconciler.config import (
    Settings,
    covers_spec_paths,
    find_repo_root,
    load_settings,
    plan_options_for,
    read_settings,
)
from reconciler.core.action import Action
from reconciler.core.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.core.observed import Health, JobOutputs
from reconciler.core.outcome import ApplyResult, OutcomeKind
from reconciler.core.plan import BlockKind, Plan, PlanOptions
from reconciler.core.spec import DesiredJob
from reconciler.datasets.stat_cache import STATE_DIR_NAME
from reconciler.notify import FailedWrite, Notifier, RunInfo
from reconciler.outputs import OutputsKey
from reconciler.outputs_cache import read_outputs_once
from reconciler.providers.clients import ClientFactory, ClientPool, default_client_factory
from reconciler.redact import redact
from reconciler.run import Run, open_run
from reconciler.sandboxed import aimed_like, sandbox_settings
from reconciler.specs.cache import state_dir
from reconciler.status import job_statuses
from reconciler.watch.commits import GitCheckout
from reconciler.watch.files import FileWatcher, last_change
from reconciler.watch.git import GitError
from reconciler.watch.gitpull import pull_checkout
from reconciler.watch.listener import Endpoints, Listener, parse_listen
from reconciler.watch.listener import Health as HealthAnswer
from reconciler.watch.logs import EventLog
from reconciler.watch.metrics import METRICS_CONTENT_TYPE, DaemonMetrics
from reconciler.watch.schedule import DEFAULT_WEBHOOK_SPACING, ResyncSchedule
from reconciler.watch.singleton import daemon_lock
from reconciler.watch.transitions import JobKey, track_transitions
from reconciler.watch.triggers import Trigger, TriggerQueue

DEFAULT_MAX_BACKOFF = 300.0
# How long the files must stay unchanged before saved (uncommitted) files are applied: an
# editor's intermediate saves of a name being typed (`name: mascot-flux-dev-v`, then 1.5 s
# later `...-v2`) come seconds apart, and each would start a paid training of its own.
DEFAULT_QUIET_PERIOD = 15.0
# The state folder of previews, beside the runs' own: a preview validates the files as saved
# (rooted at the checkout), a run the snapshot, and one cache for both would be discarded
# whole at every switch (its context names the root).
PREVIEW_STATE_DIR = "preview"
DEFAULT_UNHEALTHY_AFTER = 3
# Without a finished run for this long (and at least this many intervals), /healthz says 503.
MIN_STALE_AFTER = 600.0
STALE_INTERVALS = 3
# Webhook event types counted under their own label; anything else is "other".
KNOWN_WEBHOOK_EVENTS = frozenset({"TRAINING_COMPLETED", "INFERENCE_QUEUED", "AVAILABLE"})
# Health of jobs that are still moving: the resync comes sooner while any job has one.
MOVING = frozenset({Health.PROGRESSING, Health.PENDING})


@dataclass(frozen=True)
class WatchOptions:
    """Everything ``reconcile --watch`` is told. ``interval`` None: ``watch_interval`` from
    ``reconciler.yaml``; ``prune`` None: ``prune`` from ``reconciler.yaml``."""

    paths: tuple[Path, ...] = ()
    interval: float | None = None
    prune: bool | None = None
    allow_replace: bool = False
    retry_failed: bool = False
    parallelism: int | None = None
    use_sandbox: bool = False
    pull: bool = False
    listen: str | None = None
    webhook_secret: str | None = None
    max_backoff: float = DEFAULT_MAX_BACKOFF
    unhealthy_after: int = DEFAULT_UNHEALTHY_AFTER
    stale_after: float | None = None
    watch_files: bool = True
    worktree: bool = False  # in a git checkout, apply saved files too (after the quiet period)
    quiet_period: float = DEFAULT_QUIET_PERIOD
    webhook_spacing: float = DEFAULT_WEBHOOK_SPACING  # least seconds between webhook runs


class RunResult(StrEnum):
    """How a run ended (the ``result`` label of ``reconcile_runs_total``)."""

    SUCCESS = "success"  # everything applied, or nothing to do
    ERROR = "error"  # a provider could not be read or a change failed: back off, retry
    INVALID = "invalid"  # specs or reconciler.yaml invalid: nothing applied until fixed
    BLOCKED = "blocked"  # a change needs a flag (e.g. --allow-replace) or a spec edit
    SKIPPED = "skipped"  # another apply held the lock of the checkout

    @property
    def failed(self) -> bool:
        return self in (RunResult.ERROR, RunResult.INVALID, RunResult.BLOCKED)


@dataclass(frozen=True)
class RunRecord:
    """One finished run, as /healthz shows it."""

    started: float  # unix time
    duration: float
    result: RunResult
    triggers: tuple[str, ...]
    summary: str
    webhook_deliveries: int = 0  # accepted deliveries this run answers (coalesced)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": _iso(self.started),
            "finished": _iso(self.started + self.duration),
            "duration_seconds": round(self.duration, 3),
            "result": self.result.value,
            "triggers": list(self.triggers),
            "summary": self.summary,
        }


class _HeldBack(Exception):
    """A run whose inputs are valid, stopped before any request: how it ends, and why."""

    def __init__(self, result: RunResult, summary: str) -> None:
        super().__init__(summary)
        self.result = result
        self.summary = summary


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Daemon:
    """``open()`` takes the checkout (lock, sandbox, file watcher, HTTP listener),
    ``run_until(stop)`` converges on every trigger until ``stop`` is set or the queue is
    closed, ``close()`` lets go of everything ``open()`` took."""

    def __init__(
        self,
        options: WatchOptions,
        *,
        log: EventLog | None = None,
        cwd: Path | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        here = (cwd or Path.cwd()).resolve()
        self.options = options
        self.paths = tuple((here / path).resolve() for path in options.paths)
        self.root = find_repo_root(self.paths, cwd=here)
        self.log = log or EventLog()
        self._clients = ClientPool(client_factory or default_client_factory)
        self.metrics = DaemonMetrics()
        self.queue = TriggerQueue()
        start_settings, _ = read_settings(self.root)
        interval = (
            options.interval if options.interval is not None else start_settings.watch_interval
        )
        self.schedule = ResyncSchedule(
            interval=interval,
            max_backoff=options.max_backoff,
            webhook_spacing=options.webhook_spacing,
        )
        self.stale_after = options.stale_after or max(STALE_INTERVALS * interval, MIN_STALE_AFTER)
        self.listen_address: tuple[str, int] | None = None
        self.http_connections: int | None = None  # the listener's limit of open connections
        self._rng = random.Random()
        self._stack = contextlib.ExitStack()
        self._sandboxed: Settings | None = None
        self._watcher: FileWatcher | None = None
        self._started = time.time()
        self._lock = threading.Lock()  # guards what /healthz reads from the HTTP thread
        self._last_run: RunRecord | None = None
        self._last_success: float | None = None
        self._consecutive_failures = 0
        self._runs = 0
        self._statuses: dict[JobKey, str] = {}
        self._jobs_moving = False
        self._last_problems: frozenset[str] = frozenset()
        self._warned: set[tuple[str, str, str]] = set()
        self._notifier: tuple[object, Notifier | None] | None = None  # (what made it, it)
        # Of finished jobs, read once; None until recalled from what this machine remembers.
        self._outputs: dict[OutputsKey, JobOutputs] | None = None
        self._git = GitCheckout.open(self.root)
        # In a git checkout (unless --worktree), only commits are applied. Outside git,
        # --worktree changes nothing: the files as saved are all there is to apply.
        self.applies_commits = self._git is not None and not options.worktree
        self._head: str | None = self._git.head() if self._git is not None else None
        self._last_edit: float | None = None  # monotonic: when files were last saved
        self._last_webhook_run: float | None = None  # monotonic: when one last started
        self._webhooks_answered = 0  # the queue's count of webhook puts, as of the last run

    # -- life cycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Take the checkout. Raises ``DaemonLockHeldError`` when another daemon has it,
        ``ListenAddressError`` or ``OSError`` when ``--listen`` cannot be served."""
        start_settings, _ = read_settings(self.root)
        try:
            address = parse_listen(self.options.listen) if self.options.listen else None
            self._stack.enter_context(daemon_lock(state_dir(start_settings)))
            if self.options.use_sandbox:
                self._sandboxed = self._stack.enter_context(sandbox_settings(start_settings))
            if address is not None:
                listener = Listener(*address, self._endpoints(), log=self.log)
                listener.start()
                self._stack.callback(listener.stop)
                self.listen_address = listener.address
                self.http_connections = listener.limits.max_connections
                if self.options.webhook_secret is None:
                    self.log.warning(
                        "webhook.disabled",
                        "POST /webhook answers 404: RECONCILE_WEBHOOK_SECRET is not set",
                    )
            if self.options.watch_files:
                git = self._git
                self._watcher = FileWatcher(
                    self.root,
                    self._files_changed,
                    extra=git.ref_paths() if git is not None else (),
                    accept_extra=git.is_ref_path if git is not None else None,
                )
                self._watcher.start()
                self._stack.callback(self._watcher.stop)
        except BaseException:
            self._stack.close()
            raise
        if self.applies_commits:
            head = (self._head or "")[:12]
            mode = f"applies commits (HEAD {head}); saved edits are previewed, never applied"
        else:
            mode = f"applies saved files once none changed for {self.options.quiet_period:g} s"
            if self._git is not None:
                mode += " (--worktree: uncommitted edits too)"
            else:
                mode += " (not a git work tree with a commit"
                mode += ": --worktree changes nothing)" if self.options.worktree else ")"
        self.log.info(
            "daemon.started",
            f"watching {self.root}: {mode}",
            interval=self.schedule.interval,
            listen=f"{self.listen_address[0]}:{self.listen_address[1]}"
            if self.listen_address
            else None,
            http_connections=self.http_connections,
            pull=self.options.pull,
            sandbox=self.options.use_sandbox,
        )

    def wait_until_watching(self, timeout: float) -> bool:
        """Whether file events are being received (immediately true without a watcher)."""
        return self._watcher is None or self._watcher.wait_ready(timeout)

    def close(self) -> None:
        self.queue.close()
        self._stack.close()
        self._clients.close()
        if self._notifier is not None and self._notifier[1] is not None:
            self._notifier[1].close()

    def run_until(self, stop: threading.Event) -> None:
        """Converge at once, then on every trigger and when the resync is due; preview saved
        edits in a git checkout; hold every run while saved files are still settling, and a
        run only webhooks ask for until the webhook spacing has passed."""
        # Files saved just before the daemon started were seen by no watcher.
        self._hold(self._files_quiet_left())
        self.queue.put(Trigger.START)
        next_resync = time.monotonic()
        held: frozenset[Trigger] = frozenset()
        while not stop.is_set() and not self.queue.closed:
            # Held triggers run when the hold ends, a resync due meanwhile with them (waiting
            # for the resync instead would spin while it is already past due).
            wait = self._hold_left(held) if held else next_resync - time.monotonic()
            triggers = held | self.queue.take(wait)
            held = frozenset()
            if stop.is_set() or self.queue.closed:
                break
            if not triggers:
                if time.monotonic() < next_resync:
                    continue
                triggers = frozenset({Trigger.TIMER})
            if self._hold_left(triggers) > 0:
                held = triggers  # files still changing, or webhooks too soon: not yet
                continue
            for trigger in triggers:
                if trigger in (Trigger.START, Trigger.TIMER):
                    self.metrics.triggers.labels(source=trigger.value).inc()
            if triggers == {Trigger.PREVIEW}:
                self.preview_once()
                continue
            answered = self.queue.taken(Trigger.WEBHOOK)
            deliveries, self._webhooks_answered = answered - self._webhooks_answered, answered
            self.converge_once(triggers - {Trigger.PREVIEW}, webhook_deliveries=deliveries)
            if Trigger.PREVIEW in triggers:
                self.preview_once()  # after the run: the saved edits, against what it made
            delay = self.schedule.next_delay(
                consecutive_failures=self._consecutive_failures
                if self._last_result_backs_off()
                else 0,
                jobs_in_progress=self._jobs_moving,
                rng=self._rng,
            )
            next_resync = time.monotonic() + delay
        self.log.info("daemon.stopped", "stopped", runs=self._runs)

    def _last_result_backs_off(self) -> bool:
        return self._last_run is not None and self._last_run.result is RunResult.ERROR

    # -- triggers ---------------------------------------------------------------------------

    def _quiet_left(self) -> float:
        """Seconds until saved files have been quiet for ``quiet_period`` (0 when they have,
        or when only commits are applied), as the file events tell."""
        if self.applies_commits or self._last_edit is None:
            return 0.0
        return max(0.0, self._last_edit + self.options.quiet_period - time.monotonic())

    def _hold_left(self, triggers: frozenset[Trigger]) -> float:
        """Seconds ``triggers`` must still wait: for saved files to settle (any trigger), and
        for the webhook spacing when webhooks are all that asks for a run."""
        quiet = self._quiet_left()
        if triggers - {Trigger.PREVIEW} != {Trigger.WEBHOOK}:
            return quiet
        spacing = self.schedule.webhook_wait(self._last_webhook_run, time.monotonic())
        return max(quiet, spacing)

    def _files_quiet_left(self) -> float:
        """Seconds until the files under the root have been unchanged for ``quiet_period``,
        as their change times tell (0 when only commits are applied). A change time in the
        future (another machine's clock, on a network file system) counts as now."""
        if self.applies_commits or self.options.quiet_period <= 0:
            return 0.0
        age = max(0.0, time.time() - last_change(self.root))
        return max(0.0, self.options.quiet_period - age)

    def _hold(self, seconds: float) -> None:
        """No run applies the files as saved for the next ``seconds``."""
        if seconds <= 0:
            return
        edited = time.monotonic() + seconds - self.options.quiet_period
        self._last_edit = edited if self._last_edit is None else max(self._last_edit, edited)

    def _files_changed(self, paths: frozenset[str]) -> None:
        git = self._git
        refs = {p for p in paths if git is not None and git.is_ref_path(p)}
        if refs:
            self._head_may_have_moved()
        saved = paths - refs
        if not saved:
            return
        self.metrics.triggers.labels(source=Trigger.FILE.value).inc()
        shown = sorted(
            str(Path(p).relative_to(self.root)) for p in saved if p.startswith(str(self.root))
        )
        self.log.info("files.changed", f"{len(saved)} file change(s)", files=",".join(shown[:5]))
        if self.applies_commits:
            self.queue.put(Trigger.PREVIEW)
        else:
            self._last_edit = time.monotonic()
            self.queue.put(Trigger.FILE)

    def _head_may_have_moved(self) -> None:
        """After a change under the git directory: a COMMIT trigger when HEAD moved."""
        assert self._git is not None
        try:
            head = self._git.head()
        except GitError as error:
            self.log.warning("commit.unreadable", f"cannot read HEAD: {error}")
            return
        if head == self._head:
            return
        self._head = head
        self.log.info("commit.seen", f"HEAD is now {head[:12]}", commit=head[:12])
        if self.applies_commits:
            self.metrics.triggers.labels(source=Trigger.COMMIT.value).inc()
            self.queue.put(Trigger.COMMIT)

    def _webhook(self, event: str | None) -> None:
        self.metrics.triggers.labels(source=Trigger.WEBHOOK.value).inc()
        label = event if event in KNOWN_WEBHOOK_EVENTS else ("other" if event else "none")
        self.metrics.webhook_events.labels(event=label).inc()
        self.log.info("webhook.received", "webhook: resync requested", event_type=event)
        self.queue.put(Trigger.WEBHOOK)

    def _endpoints(self) -> Endpoints:
        return Endpoints(
            health=self.health,
            metrics=lambda: (self.metrics.render(), METRICS_CONTENT_TYPE),
            webhook=self._webhook,
            webhook_secret=self.options.webhook_secret,
        )

    # -- one run ----------------------------------------------------------------------------

    def converge_once(
        self,
        triggers: frozenset[Trigger] = frozenset({Trigger.TIMER}),
        *,
        webhook_deliveries: int = 0,
    ) -> RunRecord:
        """One run: pull (if asked and due), read, plan, apply. Never raises.
        ``webhook_deliveries``: how many accepted deliveries it answers (for the log)."""
        started, clock = time.time(), time.monotonic()
        if Trigger.WEBHOOK in triggers:
            self._last_webhook_run = clock
        if self.options.pull and triggers & {Trigger.START, Trigger.TIMER, Trigger.WEBHOOK}:
            self._pull()
        try:
            result, summary = self._converge()
        except Exception as error:  # a daemon outlives any one run's surprise
            self.metrics.errors.labels(kind="internal").inc()
            result, summary = RunResult.ERROR, redact(f"{type(error).__name__}: {error}")
            self.log.error("run.crashed", f"run failed unexpectedly: {summary}")
        duration = time.monotonic() - clock
        record = RunRecord(
            started, duration, result, tuple(sorted(triggers)), summary, webhook_deliveries
        )
        self._finish(record)
        return record

    def _finish(self, record: RunRecord) -> None:
        self.metrics.runs.labels(result=record.result.value).inc()
        self.metrics.run_duration.observe(record.duration)
        with self._lock:
            self._runs += 1
            self._last_run = record
            if record.result is RunResult.SUCCESS:
                self._consecutive_failures = 0
                self._last_success = record.started + record.duration
                self.metrics.last_success.set(self._last_success)
            elif record.result.failed:
                self._consecutive_failures += 1
        level = "error" if record.result.failed else "info"
        getattr(self.log, level)(
            "run.finished",
            record.summary,
            result=record.result.value,
            duration=f"{record.duration:.2f}s",
            triggers=",".join(record.triggers),
            **({"webhooks": record.webhook_deliveries} if record.webhook_deliveries else {}),
        )

    def _pull(self) -> None:
        outcome = pull_checkout(self.root)
        if outcome.ok:
            if outcome.changed:
                self.log.info("pull.updated", f"git pull: {outcome.message}")
        else:
            self.metrics.errors.labels(kind="pull").inc()
            self.log.error(
                "pull.failed",
                f"git pull --ff-only failed; still using the current checkout: {outcome.message}",
            )

    def _settings(self, source: Path) -> Settings:
        """The settings of the tree at ``source`` (the checkout, or the snapshot of a commit),
        with the checkout's state folder: the writer lease, the sandbox and the caches stay
        those that ``reconcile apply`` in the checkout uses."""
        settings = replace(load_settings(source), state_dir=self.root / STATE_DIR_NAME)
        return settings if self._sandboxed is None else aimed_like(settings, self._sandboxed)

    def _source(self) -> tuple[Path, str | None]:
        """What this run applies: the snapshot of HEAD's tree and its commit in a git checkout
        (unless ``--worktree``), else the checkout as saved."""
        if not self.applies_commits or self._git is None:
            return self.root, None
        head = self._git.head()
        self._head = head
        return self._git.snapshot(head, self.root / STATE_DIR_NAME), head

    def _in(self, source: Path) -> list[Path]:
        """The PATHs given to the daemon, in the tree at ``source``."""
        return [source / path.relative_to(self.root) for path in self.paths]

    def preview_once(self) -> None:
        """Plan the files as saved (uncommitted edits in a git checkout) and log what they
        would do. Nothing is ever written (no lease, no journal, only the providers' lists),
        it is not a run, and nothing it meets fails or ends the daemon."""
        try:
            self._preview()
        except Exception as error:  # a preview is advice: it never stops the daemon
            self.log.warning(
                "preview.failed",
                f"cannot preview the uncommitted edits:"
                f" {redact(f'{type(error).__name__}: {error}')}",
            )

    def _preview(self) -> None:
        if self._git is not None and not self._git.uncommitted():
            return  # files rewritten by a checkout or a pull: nothing differs from HEAD
        with contextlib.ExitStack() as stack:
            try:
                settings = replace(
                    self._settings(self.root),
                    state_dir=self.root / STATE_DIR_NAME / PREVIEW_STATE_DIR,
                )
                run = stack.enter_context(self._open_run(settings, list(self.paths), preview=True))
            except InvalidInputError as error:
                count = len(error.diagnostics)
                first = error.diagnostics[0] if error.diagnostics else ""
                self.log.warning(
                    "preview.invalid",
                    f"uncommitted edits: {count} problem{'s' if count != 1 else ''} in the specs"
                    f" (first: {first}); fix them before committing",
                )
                return
            plan = run.plan().plan
        acting = [change for change in plan.changes if change.action is not Action.NOOP]
        if not acting:
            summary = "uncommitted edits change nothing on the providers"
        else:
            by_action: dict[str, list[str]] = {}
            for change in acting:
                by_action.setdefault(change.action.value, []).append(change.name)
            would = "; ".join(f"{action} {', '.join(names)}" for action, names in by_action.items())
            summary = (
                f"uncommitted edits would {would}; nothing is applied until they are committed"
            )
        self.log.info("preview.planned", summary, changes=len(acting))

    def _open_run(
        self, settings: Settings, paths: list[Path], *, preview: bool = False
    ) -> contextlib.AbstractContextManager[Run]:
        """``run.open_run`` the daemon's way: its settings, its clients kept between runs, no
        early lists; a preview reads no journal, a run is admitted first (``_admit``)."""
        return open_run(
            paths,
            settings=settings,
            use_sandbox=self.options.use_sandbox,
            options=functools.partial(self._plan_options, paths=paths),
            clients=self._clients,
            early=False,
            read_journal=not preview,
            admit=None if preview else functools.partial(self._admit, paths=paths),
        )

    def _plan_options(self, settings: Settings, paths: Sequence[Path]) -> PlanOptions:
        """The run's plan options; with only some PATHs the plan is partial (the repository's
        other jobs are counted as not targeted, never listed as unmanaged), as on the command
        line."""
        options = plan_options_for(
            settings,
            prune=self.options.prune,
            allow_replace=self.options.allow_replace,
            retry_failed=self.options.retry_failed,
        )
        return replace(options, partial=not covers_spec_paths(settings, paths))

    def _converge(self) -> tuple[RunResult, str]:
        try:
            source, commit = self._source()
        except GitError as error:
            self.metrics.errors.labels(kind="git").inc()
            return RunResult.ERROR, f"cannot read the committed tree: {error}"
        with contextlib.ExitStack() as stack:
            try:
                settings = self._settings(source)
                run = stack.enter_context(self._open_run(settings, self._in(source)))
            except InvalidInputError as error:
                return self._invalid(error, source, commit)
            except _HeldBack as held:
                return held.result, held.summary
            try:
                # Never waits for the lease: another apply holds it, and the next trigger or
                # resync tries again from fresh lists.
                converged = converge(
                    run,
                    parallelism=self.options.parallelism or settings.parallelism,
                    say=lambda text: self.log.info("run.settling", text),
                    lock_wait=0.0,
                )
            except WriterUnavailableError as error:
                self.metrics.errors.labels(kind="lock").inc()
                return RunResult.SKIPPED, str(error)
            plan, applied = converged.plan, converged.result
            self._observe(plan)
            self._notify(run, plan, applied, commit)

        for incomplete in plan.incomplete:
            self.metrics.errors.labels(kind="provider").inc()
            if incomplete.refused:
                # The refusal's message, once per run; its blocked changes are not listed.
                self.log.error("provider.refused", incomplete.error, provider=incomplete.provider)
                continue
            self.log.error(
                "provider.unreadable",
                f"{incomplete.provider} could not be read ({incomplete.error});"
                " nothing was changed there",
                provider=incomplete.provider,
            )
        for refusal in applied.refusals:
            # Refused part-way (a write, not the list): said once too; its changes point at it.
            self.metrics.errors.labels(kind="provider").inc()
            self.log.error("provider.refused", refusal.message, provider=refusal.provider)
        counts: Counter[str] = Counter()
        for outcome in applied.outcomes:
            action, kind = outcome.change.action, outcome.kind
            counts[kind.value] += 1
            where = f"{outcome.provider}/{outcome.name}"
            if kind is OutcomeKind.DONE:
                self.metrics.changes_applied.labels(action=action.value).inc()
                if action is Action.UPDATE:
                    self.metrics.drift_corrections.inc()
                self.log.info(
                    "change.applied",
                    f"{action.value} {where}: {outcome.message}",
                    action=action.value,
                )
            elif kind is OutcomeKind.FAILED:
                self.metrics.errors.labels(kind="apply").inc()
                self.log.error(
                    "change.failed",
                    f"{action.value} {where} failed: {outcome.message}",
                    action=action.value,
                )
            elif kind is OutcomeKind.UNCONFIRMED:
                self.metrics.errors.labels(kind="unconfirmed").inc()
                self.log.error(
                    "change.unconfirmed",
                    f"{action.value} {where} unconfirmed: {outcome.message}",
                    action=action.value,
                )
        self._report_warnings(plan)
        blocked = [
            change
            for change in plan.errors
            if change.blocked is not None
            and change.blocked.kind
            not in (
                BlockKind.INCOMPLETE_OBSERVATION,
                BlockKind.UNCONFIRMED,
                BlockKind.PROVIDER_REFUSED,
            )
        ]
        self._report_blocked(blocked)
        totals = plan.summary
        if totals.has_changes:
            summary = (
                f"plan: {totals.create} create, {totals.update} update, {totals.replace}"
                f" replace, {totals.delete} delete; applied: {counts['done']} done,"
                f" {counts['failed']} failed"
            )
        else:
            summary = f"in sync: {totals.noop} job{'s' if totals.noop != 1 else ''} unchanged"
        if commit is not None:
            summary = f"commit {commit[:12]}: {summary}"
        if plan.incomplete:
            refused = [i.provider for i in plan.incomplete if i.refused]
            unread = [i.provider for i in plan.incomplete if not i.refused]
            causes = [f"{', '.join(unread)} could not be read"] if unread else []
            causes += [f"{provider} refuses fine-tuning" for provider in refused]
            return RunResult.ERROR, f"{'; '.join(causes)}; {summary} elsewhere"
        if counts["failed"] or counts["unconfirmed"]:
            unconfirmed = f", {counts['unconfirmed']} unconfirmed" if counts["unconfirmed"] else ""
            return RunResult.ERROR, summary + unconfirmed
        if blocked:
            return RunResult.BLOCKED, f"{summary}, {len(blocked)} blocked"
        return RunResult.SUCCESS, summary

    def _admit(
        self,
        settings: Settings,
        desired: Sequence[DesiredJob],
        options: PlanOptions,
        *,
        paths: list[Path],
    ) -> None:
        """Raises ``_HeldBack`` when a run whose inputs are valid must not go on: saved files
        still settling (skipped, and tried again once they are quiet), or a prune over some
        of the specs only (invalid)."""
        # Read: now a save the watcher has not reported yet (made a moment before this run,
        # or before the daemon started) shows in the files' change times.
        unsettled = self._files_quiet_left()
        if unsettled > 0:
            self._hold(unsettled)
            self.queue.put(Trigger.FILE)
            raise _HeldBack(
                RunResult.SKIPPED,
                f"files changed {self.options.quiet_period - unsettled:.1f} s ago; nothing was"
                f" applied: they are, once none changed for {self.options.quiet_period:g} s",
            )
        if self._last_problems:
            self.log.info("specs.fixed", "the specs are valid again")
            self._last_problems = frozenset()
        if options.prune and not covers_spec_paths(settings, paths):
            self.metrics.errors.labels(kind="invalid").inc()
            raise _HeldBack(
                RunResult.INVALID,
                "--prune needs every spec: with only some PATHs it would delete the jobs of the"
                " specs left out; nothing was applied; run without PATHs, or without --prune",
            )

    def _invalid(
        self, error: InvalidInputError, source: Path, commit: str | None
    ) -> tuple[RunResult, str]:
        self.metrics.errors.labels(kind="invalid").inc()
        diagnostics = [self._in_checkout(d, source, commit) for d in error.diagnostics]
        problems = frozenset(str(diagnostic) for diagnostic in diagnostics)
        # The same problems are reported once, not on every resync until someone fixes them.
        if problems != self._last_problems:
            for diagnostic in diagnostics:
                self.log.error(
                    "spec.invalid",
                    str(diagnostic),
                    file=str(diagnostic.file),
                    line=diagnostic.line,
                )
            self._last_problems = problems
        count = len(diagnostics)
        where = f" of commit {commit[:12]}" if commit is not None else ""
        fix = "fix them and commit" if commit is not None else "fix them and save"
        return (
            RunResult.INVALID,
            f"{count} problem{'s' if count != 1 else ''} in the specs{where}; nothing was sent"
            f" to any provider; {fix}",
        )

    def _in_checkout(self, diagnostic: Diagnostic, source: Path, commit: str | None) -> Diagnostic:
        """``diagnostic`` naming the file in the checkout rather than in the snapshot of
        ``commit`` (an operator fixes the checkout's file; the snapshot is rewritten)."""
        if commit is None:
            return diagnostic
        try:
            inside = (Path.cwd() / diagnostic.file).resolve().relative_to(source.resolve())
        except ValueError:
            return diagnostic
        return replace(
            diagnostic,
            file=display_path(self.root / inside),
            message=f"{diagnostic.message} (in commit {commit[:12]})",
        )

    def _report_warnings(self, plan: Plan) -> None:
        """Each change nobody can make (a Segmind delete), once for the daemon's life: it is
        not an error, and a warning on every resync would drown the log."""
        for change in plan.warnings:
            key = (change.provider, change.name, change.action.value)
            if key in self._warned or change.blocked is None:
                continue
            self._warned.add(key)
            self.log.warning(
                "change.impossible",
                f"{change.action.value} {change.provider}/{change.name}: {change.blocked.reason};"
                f" {change.blocked.fix}",
            )

    def _report_blocked(self, blocked: Sequence[Any]) -> None:
        for change in blocked:
            self.log.warning(
                "change.blocked",
                f"{change.action.value} {change.provider}/{change.name} blocked:"
                f" {change.blocked.reason}; {change.blocked.fix}",
            )

    def _notifier_for(self, settings: Settings) -> Notifier | None:
        """The notifier of ``notify:`` as this run's settings have it, made again (and a
        missing variable warned about again) only when the block or the variable changed."""
        notify = settings.notify
        made_of = (notify, os.environ.get(notify.url_variable) if notify else None)
        if self._notifier is not None and self._notifier[0] == made_of:
            return self._notifier[1]
        if self._notifier is not None and self._notifier[1] is not None:
            self._notifier[1].close()
        notifier = Notifier.for_settings(
            settings,
            state_dir(settings),
            sandbox=self.options.use_sandbox,
            warn=lambda text: self.log.warning("notify.problem", text),
            environ=os.environ,
        )
        self._notifier = (made_of, notifier)
        return notifier

    def _notify(self, run: Run, plan: Plan, applied: ApplyResult, commit: str | None) -> None:
        """Tell the webhook of this run's finished and failed jobs and failed writes."""
        notifier = self._notifier_for(run.settings)
        if notifier is None:
            return
        # Each finished job's details once per machine: not again after a restart either.
        read, self._outputs = read_outputs_once(run, plan, self._outputs)
        for failure in read.failures:
            self.log.warning("outputs.unreadable", failure.error, provider=failure.provider)
        info = RunInfo("daemon", commit=commit, sandbox=self.options.use_sandbox)
        unread = {i.provider for i in (*plan.incomplete, *read.failures)}
        notifier.jobs(job_statuses(plan, read.outputs), info, unread)
        failures = [
            FailedWrite(o.provider, o.name, o.change.action.value, o.message)
            for o in applied.outcomes
            if o.kind in (OutcomeKind.FAILED, OutcomeKind.UNCONFIRMED)
        ]
        notifier.apply(failures, info)

    def _observe(self, plan: Plan) -> None:
        """Transitions and the jobs-by-health gauge, from this run's plan."""
        statuses = job_statuses(plan)
        self._statuses, transitions = track_transitions(self._statuses, statuses)
        for transition in transitions:
            self.log.info(
                "job.transition",
                str(transition),
                provider=transition.provider,
                job=transition.name,
                before=transition.before,
                after=transition.after,
            )
        by_health = Counter(status.health for status in statuses)
        for health in Health:
            self.metrics.jobs.labels(health=health.value).set(by_health[health])
        self._jobs_moving = any(status.health in MOVING for status in statuses)

    # -- health -----------------------------------------------------------------------------

    def health(self) -> HealthAnswer:
        """200 unless the last ``unhealthy_after`` runs failed or no run finished for long."""
        with self._lock:
            last, failures, runs = self._last_run, self._consecutive_failures, self._runs
            last_success = self._last_success
        now = time.time()
        since = (last.started + last.duration) if last is not None else self._started
        if failures >= self.options.unhealthy_after:
            status = "failing"
        elif now - since > self.stale_after:
            status = "stale"
        elif last is None:
            status = "starting"
        else:
            status = "ok"
        document = {
            "status": status,
            "runs": runs,
            "consecutive_failures": failures,
            "last_run": last.to_dict() if last is not None else None,
            "last_success": _iso(last_success) if last_success is not None else None,
        }
        return HealthAnswer(status in ("ok", "starting"), document)

    @property
    def runs(self) -> int:
        with self._lock:
            return self._runs

    @property
    def last_run(self) -> RunRecord | None:
        with self._lock:
            return self._last_run
