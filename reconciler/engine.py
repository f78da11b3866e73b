"""The engine: one reconciliation composed from the layers, and nothing else.

settings -> specs (validated, or taken from the validation cache) -> desired jobs (dataset
fingerprints; both cached under ``<root>/.reconcile/``) -> every provider observed in
parallel -> the pure diff -> a ``Plan``. ``open_run`` prepares what a command works with
(the apply lock if asked, validated specs, the embedded sandbox for ``--sandbox``, one client
per provider); ``Run.plan`` and ``make_plan`` observe and diff; ``check_not_stale`` decides
whether a saved plan may still be applied. Side effects here are the provider list requests
and the caches; writes happen only in ``reconciler.apply``.

Reading overlaps with the local work: the clients of the providers with a key are built, and
their lists requested, while the specs are validated (``reconciler.observing.EarlyLists``);
each provider's share of the plan is worked out as soon as its lists are in. Nothing is
written before every spec is valid: one invalid spec and the lists are abandoned.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.config import ProviderSettings, Secret, Settings, require_owner
from reconciler.core.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.core.observed import ObservedState, ProviderObservation, RecentWrite
from reconciler.core.plan import Plan, PlanOptions
from reconciler.core.spec import PROVIDERS, DesiredJob, FineTuneSpec, Provider
from reconciler.datasets import DatasetError
from reconciler.datasets.files import list_dataset
from reconciler.observing import (
    ClientFactory,
    EarlyLists,
    completed,
    in_client_order,
    start_observing,
)
from reconciler.providers.base import ProviderClient
from reconciler.providers.profiles import PROFILES
from reconciler.specs import ValidationCache, load_specs, open_validation_cache
from reconciler.specs.cache import CACHE_DIR_NAME, listing_settled, state_folder_problem

if TYPE_CHECKING:
    from reconcile_sandbox.server import ServerThread
    from reconciler.diff import ProviderPlan
    from reconciler.writer import Writer

JournalRead = tuple[tuple[RecentWrite, ...], str | None]
"""The journal of recent writes read without the lease, and why it could not be (or None)."""

STATE_DIR_NAME = CACHE_DIR_NAME
# Simulated seconds per real second under ``--sandbox``: jobs train in seconds, as in a demo,
# and the dataset validations an upload waits for finish at once.
SANDBOX_SPEED = 60.0


class StalePlanError(Exception):
    """A saved plan no longer matches the specs, the datasets or the remote state."""


@dataclass(frozen=True)
class Reconciliation:
    """One planning run: the plan, and the desired jobs and observation it was made from."""

    plan: Plan
    desired: tuple[DesiredJob, ...]
    observed: ObservedState


def state_dir(settings: Settings) -> Path:
    """``<root>/.reconcile`` (or ``settings.state_dir``): fingerprint caches, the local
    writer lease, ``--sandbox`` state; made when missing, with a ``.gitignore`` of ``*``.
    Raises ``InvalidInputError`` when it is a symlink (a commit can hold one: nothing is
    written through it) or a file (``specs.cache.state_folder_problem``)."""
    folder = settings.state_dir or settings.root / STATE_DIR_NAME
    problem = state_folder_problem(folder)
    if problem is not None:
        raise InvalidInputError([problem])
    return folder


def desired_jobs(
    specs: Sequence[FineTuneSpec],
    cache_dir: Path | None,
    validated: ValidationCache | None = None,
    owner: str | None = None,
) -> list[DesiredJob]:
    """Each spec with the repository's ``owner`` and its dataset's fingerprint and upload size
    (local datasets only).

    A dataset several specs share is read once. A dataset that cannot be read is an input
    problem of the spec naming it: all of them are raised together as ``InvalidInputError``.
    Per-file digests are cached under ``cache_dir``; ``validated`` (the validation cache)
    also remembers each dataset's result for its exact listing.
    """
    known: dict[Path, tuple[str, int]] = {}
    problems: list[Diagnostic] = []
    jobs: list[DesiredJob] = []
    for spec in specs:
        if not spec.dataset.is_local:
            jobs.append(DesiredJob(spec, owner=owner))
            continue
        path = spec.dataset.path
        try:
            if path not in known:
                known[path] = _fingerprint_and_size(path, cache_dir, validated)
        except DatasetError as error:
            where = spec.source
            problems.append(
                Diagnostic(display_path(where.file), where.line, where.col, "dataset", str(error))
            )
            continue
        sha256, size = known[path]
        jobs.append(DesiredJob(spec, dataset_fingerprint=sha256, upload_size=size, owner=owner))
    if problems:
        raise InvalidInputError(problems)
    return jobs


def _fingerprint_and_size(
    path: Path, cache_dir: Path | None, validated: ValidationCache | None
) -> tuple[str, int]:
    """A dataset's sha256 and upload size: a folder is sent as its deterministic zip, a file
    as it is. Remembered in ``validated`` only when the files held still and were old
    enough to be trusted by stat (``stat_cache.RACY_WINDOW_NS``)."""
    started = time.time_ns()
    listing = validated.listing(path) if validated is not None else list_dataset(path)
    remembered = validated.fingerprint_of(listing) if validated is not None else None
    if remembered is not None:
        return remembered
    # Imported here: a run served from the validation cache reads no dataset.
    from reconciler.datasets.archive import zip_size_of_listing
    from reconciler.datasets.fingerprint import fingerprint_listing

    fingerprint = fingerprint_listing(listing, cache_dir=cache_dir)
    size = zip_size_of_listing(listing) if listing.is_folder else fingerprint.size
    if validated is not None and listing_settled(listing, started):
        with contextlib.suppress(DatasetError):
            if list_dataset(path) == listing:
                validated.remember_fingerprint(listing, fingerprint.sha256, size)
    return fingerprint.sha256, size


def covers_spec_paths(settings: Settings, paths: Sequence[Path]) -> bool:
    """Whether ``paths`` (none: the configured spec paths) include every configured spec
    path. Pruning from fewer specs would delete the jobs of the specs left out."""
    if not paths:
        return True
    given = [path.resolve() for path in paths]
    return all(
        any(spec_path.resolve().is_relative_to(path) for path in given)
        for spec_path in settings.spec_paths
    )


def plan_options_for(
    settings: Settings,
    *,
    prune: bool | None = None,
    allow_replace: bool = False,
    retry_failed: bool = False,
    limits: Mapping[str, int | None] | None = None,
) -> PlanOptions:
    """The plan options of a run: the repository's owner (``InvalidInputError`` when
    ``reconciler.yaml`` sets none), its guardrails with ``limits`` (``max_creates``...) given
    for this run in their place, what it forgets and its settle window; ``prune`` None takes
    ``reconciler.yaml``'s."""
    raised = {name: value for name, value in (limits or {}).items() if value is not None}
    return PlanOptions(
        owner=require_owner(settings),
        prune=settings.prune if prune is None else prune,
        allow_replace=allow_replace,
        retry_failed=retry_failed,
        guardrails=replace(settings.guardrails, **raised),
        forget=settings.forget,
        settle_window=settings.settle_window,
    )


def providers_to_observe(settings: Settings, desired: Sequence[DesiredJob]) -> list[Provider]:
    """Providers a spec names, and those with an API key (so ``--prune`` and ``status`` see
    them); a provider with neither is of no concern to this repository."""
    named = {job.spec.provider for job in desired}
    return [p for p in PROVIDERS if p in named or settings.providers[p].api_key is not None]


def load_desired(settings: Settings, paths: Sequence[Path]) -> list[DesiredJob]:
    """Specs under ``paths`` (default: the settings' spec paths) as desired jobs. Raises
    ``InvalidInputError`` with every problem before any request is made."""
    validated = open_validation_cache(settings)
    specs = load_specs(list(paths), settings=settings, cache=validated)
    return _fingerprinted(specs, settings, validated)


def _fingerprinted(
    specs: Sequence[FineTuneSpec], settings: Settings, validated: ValidationCache | None
) -> list[DesiredJob]:
    try:
        return desired_jobs(specs, state_dir(settings), validated, settings.owner)
    finally:
        if validated is not None:
            validated.save()


def make_plan(
    settings: Settings,
    desired: Sequence[DesiredJob],
    clients: Mapping[Provider, ProviderClient],
    options: PlanOptions,
    *,
    listed: Mapping[Provider, Future[ProviderObservation]] | None = None,
    recent: Sequence[RecentWrite] = (),
) -> Reconciliation:
    """Observe the providers of ``clients`` and diff them against ``desired``, knowing the
    ``recent`` writes of the journal (creates the lists may not show yet).

    The result is ``diff.plan(desired, observe_all(clients), options)``; each provider's
    share of it is worked out as soon as that provider has been listed (the plan's snapshot
    only when it is read). ``listed`` holds lists already being read for some of the
    providers (``EarlyLists``); the others are requested now."""
    listing = {p: lists for p, lists in (listed or {}).items() if p in clients}
    listing.update(start_observing({p: c for p, c in clients.items() if p not in listing}))
    observations = completed(listing)
    # Imported once the lists are asked for: nothing before the first request waits for it.
    from reconciler.diff import assemble_plan, desired_by_provider, plan_provider

    by_provider = desired_by_provider(desired)
    seen: list[ProviderObservation] = []
    parts: list[ProviderPlan] = []
    for observation in observations:
        writes = tuple(write for write in recent if write.provider == observation.provider)
        if writes:
            observation = replace(observation, recent=writes)
        seen.append(observation)
        mine = by_provider.get(observation.provider, [])
        parts.append(plan_provider(observation.provider, mine, observation, options))
    for provider in by_provider.keys() - {observation.provider for observation in seen}:
        parts.append(plan_provider(provider, by_provider[provider], None, options))
    plan = assemble_plan(parts, desired, options)
    return Reconciliation(plan, tuple(desired), in_client_order(clients, seen))


def check_not_stale(saved: Plan, desired: Sequence[DesiredJob], observed: ObservedState) -> None:
    """Raises ``StalePlanError`` unless the world is as it was when ``saved`` was made."""
    from reconciler.diff import snapshot_of

    if snapshot_of(desired, observed, saved.options) != saved.snapshot:
        raise StalePlanError(
            "the saved plan is stale: the specs, the datasets or the remote jobs changed since"
            " it was made; make a new plan with `reconcile plan --out FILE`, review it, and"
            " apply that"
        )


def open_clients(
    settings: Settings, providers: Sequence[Provider], factory: ClientFactory
) -> dict[Provider, ProviderClient]:
    """One client per provider in ``providers``; the caller closes them (``close_clients``)."""
    return {provider: factory(provider, settings) for provider in providers}


def close_clients(clients: Mapping[Provider, ProviderClient]) -> None:
    for client in clients.values():
        client.close()


@contextlib.contextmanager
def sandbox_settings(settings: Settings) -> Iterator[Settings]:
    """``settings`` pointed at the embedded sandbox, served on a thread for the ``with`` block
    with its state under ``<root>/.reconcile/sandbox``. The keys in the environment are not
    used: each provider gets the sandbox's own key."""
    # Imported here, and only here in the product: reconcile_sandbox is a distribution of its
    # own (the `sandbox` extra) that an installation may lack; the command line says what to
    # install before it gets this far (cli._require_sandbox).
    from reconcile_sandbox.app import SandboxConfig
    from reconcile_sandbox.server import start_in_thread

    running = start_in_thread(
        SandboxConfig(data_dir=state_dir(settings) / "sandbox", speed=SANDBOX_SPEED)
    )
    try:
        yield replace(
            settings,
            providers={
                provider: _sandboxed(provider, own, running)
                for provider, own in settings.providers.items()
            },
        )
    finally:
        running.stop()


def _sandboxed(
    provider: Provider, settings: ProviderSettings[Any], running: ServerThread
) -> ProviderSettings[Any]:
    """A provider's settings aimed at the sandbox, with its keys and a stand-in for each key
    of another service, and its options as they are where the clock runs SANDBOX_SPEED times
    faster."""
    if provider in running.keys:
        base_url, key = running.base_url(provider), running.keys[provider]
    else:
        # A provider the sandbox does not emulate is pointed at a closed port, never at the
        # real service with the sandbox's key.
        base_url, key = "http://127.0.0.1:9", f"sandbox-{provider}-key"
    return replace(
        settings,
        base_url=base_url,
        api_key=Secret(key),
        service_keys={name: Secret(f"sandbox-{name}-key") for name in settings.service_keys},
        options=PROFILES[provider].options_under_sandbox(settings.options, SANDBOX_SPEED),
    )


@dataclass(frozen=True)
class Run:
    """What one command works with: the settings, the desired jobs, a client per provider,
    the plan options, the lists requested while the specs were validated (if any), and the
    journal of recent writes being read (``None`` when the command needs none)."""

    settings: Settings
    desired: tuple[DesiredJob, ...]
    clients: Mapping[Provider, ProviderClient]
    options: PlanOptions
    early: EarlyLists | None
    journal: Future[JournalRead] | None = None
    use_sandbox: bool = False

    def recent_writes(self) -> JournalRead:
        """The journal read without the lease, and why it could not be (then it is empty:
        the plan shows what the lists show, and an apply reads it again under the lease)."""
        if self.journal is None:
            return (), None
        return self.journal.result()

    def plan(
        self, recent: Sequence[RecentWrite] | None = None, *, fresh: bool = False
    ) -> Reconciliation:
        """``make_plan`` for this run, with ``recent`` writes (default: the journal read
        without the lease). The first plan uses the lists started early (unless ``fresh``:
        lists requested now); a later one lists again."""
        listed = self.early.take() if self.early is not None else None
        if fresh:
            listed = None
        if recent is None:
            recent = self.recent_writes()[0]
        return make_plan(
            self.settings, self.desired, self.clients, self.options, listed=listed, recent=recent
        )

    def writer(self, wait: float | None = None) -> contextlib.AbstractContextManager[Writer]:
        """Hold the writer lease (``hold_writer``), waiting up to ``wait`` seconds (default:
        ``lock_timeout``)."""
        from reconciler.writer import hold_writer  # only an apply with something to write

        return hold_writer(
            self.settings,
            state_dir(self.settings),
            wait=self.settings.lock_timeout if wait is None else wait,
            local=self.use_sandbox,
        )


@contextlib.contextmanager
def open_run(
    paths: Sequence[Path],
    *,
    use_sandbox: bool = False,
    options: Callable[[Settings], PlanOptions] | None = None,
    factory: ClientFactory | None = None,
    read_journal: bool = True,
) -> Iterator[Run]:
    """The settings and the plan ``options`` made from them (a usage error there stops the
    run before anything else); validated specs and fingerprinted datasets; then (only if all
    of that is valid) the sandbox when ``use_sandbox``, and the clients.

    The lists of the providers with a key are requested while the specs are validated (not
    under ``--sandbox``, whose endpoints are only known once it runs), and so is the journal of
    recent writes (``read_journal``). Raises ``InvalidInputError`` before any request that
    depends on the specs. No lease is taken here: an apply takes the writer lease
    (``Run.writer``) only once it has something to write.
    """
    from reconciler.config import find_repo_root, load_settings

    settings = load_settings(find_repo_root(paths))
    plan_options = options(settings) if options is not None else PlanOptions()
    factory = factory or default_client_factory
    with contextlib.ExitStack() as stack:
        journal = start_journal_read(settings, use_sandbox) if read_journal else None
        early = None if use_sandbox else EarlyLists(settings, factory, _keyed(settings))
        if early is not None:
            # Building a client is mostly imports, which hold the GIL: validating meanwhile
            # would only delay the first list request. Once the clients exist, validation
            # runs while the providers answer.
            early.wait_until_built()
        try:
            validated = open_validation_cache(settings)
            specs = load_specs(list(paths), settings=settings, cache=validated)
            desired = tuple(_fingerprinted(specs, settings, validated))
            if early is not None:
                clients = _keep_needed(early.clients(), settings, desired, factory)
        except BaseException:
            if early is not None:
                early.abandon()
            raise
        if early is not None:
            stack.callback(close_clients, clients)
        if use_sandbox:
            settings = stack.enter_context(sandbox_settings(settings))
            clients = open_clients(settings, providers_to_observe(settings, desired), factory)
            stack.callback(close_clients, clients)
        yield Run(settings, desired, clients, plan_options, early, journal, use_sandbox)


def start_journal_read(settings: Settings, local: bool) -> Future[JournalRead]:
    """The journal of recent writes, read on a thread of its own (finding the git remote and
    reading its lease ref are subprocesses and a round trip, which overlap the lists)."""
    result: Future[JournalRead] = Future()

    def read() -> None:
        # Imported on this thread: the lease's modules (git, file locks) cost a dry run about
        # 30 ms before its first list request when imported with the engine.
        from reconciler.journal import JournalError
        from reconciler.lease import LeaseError
        from reconciler.writer import lease_store, read_recent_writes

        try:
            store = lease_store(settings, state_dir(settings), local=local)
            result.set_result((read_recent_writes(store), None))
        except (LeaseError, JournalError) as error:
            result.set_result(((), f"the journal of recent writes could not be read ({error})"))
        except BaseException as error:
            result.set_exception(error)

    threading.Thread(target=read, name="journal", daemon=True).start()
    return result


def _keyed(settings: Settings) -> list[Provider]:
    """The providers with an API key: ``providers_to_observe`` lists them whatever the specs
    say, so their lists can be requested before the specs are read."""
    return [p for p in PROVIDERS if settings.providers[p].api_key is not None]


def _keep_needed(
    built: dict[Provider, ProviderClient],
    settings: Settings,
    desired: Sequence[DesiredJob],
    factory: ClientFactory,
) -> dict[Provider, ProviderClient]:
    """The clients ``providers_to_observe`` asks for: those built early, and any other."""
    wanted = providers_to_observe(settings, desired)
    added = open_clients(settings, [p for p in wanted if p not in built], factory)
    return {p: built[p] if p in built else added[p] for p in wanted}


def default_client_factory(provider: Provider, settings: Settings) -> ProviderClient:
    from reconciler.providers.registry import build_client

    return build_client(provider, settings)
