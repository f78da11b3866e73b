"""The engine: one reconciliation composed from the layers, and nothing else.

settings -> specs (validated, or taken from the validation cache) -> desired jobs (dataset
fingerprints; both cached under ``<root>/.reconcile/``) -> every provider observed in
parallel -> the pure diff -> a ``Plan``. ``open_run`` prepares what a command works with
(validated specs first, then the apply lock if asked, the embedded sandbox for ``--sandbox``,
one client per provider); ``make_plan`` observes and diffs; ``check_not_stale`` decides
whether a saved plan may still be applied. Side effects here are the provider list requests
and the caches; writes happen only in ``reconciler.apply``.

Work that sends nothing overlaps with what waits: clients (an SSL context each) are built on
threads while the specs are validated, and each provider's share of the plan is worked out
as soon as its lists are in. No request is made before every spec is valid.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.config import Secret, Settings
from reconciler.datasets import DatasetError
from reconciler.datasets.files import list_dataset
from reconciler.diagnostics import Diagnostic, InvalidInputError, display_path
from reconciler.model import (
    PROVIDERS,
    DesiredJob,
    FineTuneSpec,
    ObservedState,
    Plan,
    PlanOptions,
    Provider,
    ProviderObservation,
)
from reconciler.providers.base import ProviderClient, ProviderError
from reconciler.specs import ValidationCache, load_specs, open_validation_cache
from reconciler.specs.cache import CACHE_DIR_NAME, listing_settled

if TYPE_CHECKING:
    from reconciler.diff import ProviderPlan
    from reconciler.sandbox.testing import RunningSandbox

STATE_DIR_NAME = CACHE_DIR_NAME
# Simulated seconds per real second under ``--sandbox``: jobs train in seconds, as in a demo,
# and the dataset validations an upload waits for finish at once.
SANDBOX_SPEED = 60.0

ClientFactory = Callable[[Provider, Settings], ProviderClient]
"""Builds the client of one provider from the settings (``reconciler.providers.registry``)."""


class StalePlanError(Exception):
    """A saved plan no longer matches the specs, the datasets or the remote state."""


@dataclass(frozen=True)
class Reconciliation:
    """One planning run: the plan, and the desired jobs and observation it was made from."""

    plan: Plan
    desired: tuple[DesiredJob, ...]
    observed: ObservedState


def state_dir(settings: Settings) -> Path:
    """``<root>/.reconcile``: validation and fingerprint caches, apply lock, ``--sandbox``
    state."""
    return settings.root / STATE_DIR_NAME


def desired_jobs(
    specs: Sequence[FineTuneSpec],
    cache_dir: Path | None,
    validated: ValidationCache | None = None,
) -> list[DesiredJob]:
    """Each spec with its dataset's fingerprint and upload size (local datasets only).

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
            jobs.append(DesiredJob(spec))
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
        jobs.append(DesiredJob(spec, dataset_fingerprint=sha256, upload_size=size))
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


def providers_to_observe(settings: Settings, desired: Sequence[DesiredJob]) -> list[Provider]:
    """Providers a spec names, and those with an API key (so ``--prune`` and ``status`` see
    them); a provider with neither is of no concern to this repository."""
    named = {job.spec.provider for job in desired}
    return [p for p in PROVIDERS if p in named or settings.provider(p).api_key is not None]


def observe_all(clients: Mapping[Provider, ProviderClient]) -> ObservedState:
    """Every client's observation, all at once. A provider that cannot be read becomes an
    incomplete observation carrying its error, so the plan changes nothing there."""
    return _in_client_order(clients, list(observe_each(clients)))


def observe_each(clients: Mapping[Provider, ProviderClient]) -> Iterator[ProviderObservation]:
    """Every client's observation (as ``observe_all``), each as soon as it is complete. The
    lists are requested at once, before the first is waited for."""
    if not clients:
        return iter(())
    pool = ThreadPoolExecutor(max_workers=len(clients), thread_name_prefix="observe")
    futures = [pool.submit(_observe, client) for client in clients.values()]
    pool.shutdown(wait=False)  # the threads end with their observation
    return (done.result() for done in as_completed(futures))


def _observe(client: ProviderClient) -> ProviderObservation:
    try:
        return client.observe()
    except ProviderError as error:
        return ProviderObservation(client.name, complete=False, error=str(error))


def _in_client_order(
    clients: Mapping[Provider, ProviderClient], observations: Sequence[ProviderObservation]
) -> ObservedState:
    by_provider = {observation.provider: observation for observation in observations}
    return ObservedState.of(*(by_provider[client.name] for client in clients.values()))


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
        return desired_jobs(specs, state_dir(settings), validated)
    finally:
        if validated is not None:
            validated.save()


def make_plan(
    settings: Settings,
    desired: Sequence[DesiredJob],
    clients: Mapping[Provider, ProviderClient],
    options: PlanOptions,
) -> Reconciliation:
    """Observe the providers of ``clients`` and diff them against ``desired``.

    The result is ``diff.plan(desired, observe_all(clients), options)``; each provider's
    share of it is worked out as soon as that provider has been listed (the plan's snapshot
    only when it is read)."""
    observations = observe_each(clients)
    # Imported once the lists are asked for: nothing before the first request waits for it.
    from reconciler.diff import assemble_plan, desired_by_provider, plan_provider

    by_provider = desired_by_provider(desired)
    seen: list[ProviderObservation] = []
    parts: list[ProviderPlan] = []
    for observation in observations:
        seen.append(observation)
        mine = by_provider.get(observation.provider, [])
        parts.append(plan_provider(observation.provider, mine, observation, options))
    for provider in by_provider.keys() - {observation.provider for observation in seen}:
        parts.append(plan_provider(provider, by_provider[provider], None, options))
    plan = assemble_plan(parts, desired, options)
    return Reconciliation(plan, tuple(desired), _in_client_order(clients, seen))


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
    from reconciler.sandbox.testing import start_running_sandbox

    running = start_running_sandbox(data_dir=state_dir(settings) / "sandbox", speed=SANDBOX_SPEED)
    try:
        wandb_key = settings.cohere.wandb_api_key
        yield replace(
            settings,
            segmind=replace(settings.segmind, **_sandbox_endpoint(running, "segmind")),
            qubrid=replace(settings.qubrid, **_sandbox_endpoint(running, "qubrid")),
            cohere=replace(
                settings.cohere,
                **_sandbox_endpoint(running, "cohere"),
                wandb_api_key=Secret("sandbox-wandb-key") if wandb_key else None,
            ),
        )
    finally:
        running.stop()


def _sandbox_endpoint(running: RunningSandbox, provider: Provider) -> dict[str, Any]:
    if provider not in running.keys:
        # A provider the sandbox does not emulate is pointed at a closed port, never at the
        # real service with the sandbox's key.
        return {"base_url": "http://127.0.0.1:9", "api_key": Secret(f"sandbox-{provider}-key")}
    return {"base_url": running.base_url(provider), "api_key": Secret(running.keys[provider])}


@dataclass(frozen=True)
class Run:
    """What one command works with: the settings, the desired jobs, a client per provider."""

    settings: Settings
    desired: tuple[DesiredJob, ...]
    clients: Mapping[Provider, ProviderClient]


@contextlib.contextmanager
def open_run(
    paths: Sequence[Path],
    *,
    use_sandbox: bool = False,
    lock: bool = False,
    factory: ClientFactory | None = None,
) -> Iterator[Run]:
    """Settings, validated specs and fingerprinted datasets, then (only if all of that is
    valid) the apply lock when ``lock``, the sandbox when ``use_sandbox``, and the clients.

    Raises ``InvalidInputError`` before any request, ``LockHeldError`` when another apply
    runs on this checkout.
    """
    from reconciler.config import find_repo_root, load_settings

    settings = load_settings(find_repo_root(paths))
    factory = factory or default_client_factory
    # Building a client sends nothing, but costs imports and an SSL context each: those of
    # providers with a key are built on a thread while the specs are validated. Under
    # --sandbox the endpoints are only known once the sandbox runs.
    early = None if use_sandbox else _open_clients_soon(settings, factory)
    try:
        validated = open_validation_cache(settings)
        specs = load_specs(list(paths), settings=settings, cache=validated)
        desired = tuple(_fingerprinted(specs, settings, validated))
    except BaseException:
        if early is not None:
            _close_early(early)
        raise
    with contextlib.ExitStack() as stack:
        if early is not None:
            clients = _keep_needed(_built(early), settings, desired, factory)
            stack.callback(close_clients, clients)
        if lock:
            from reconciler.lock import apply_lock  # filelock: only an apply needs it

            stack.enter_context(apply_lock(state_dir(settings)))
        if use_sandbox:
            settings = stack.enter_context(sandbox_settings(settings))
            clients = open_clients(settings, providers_to_observe(settings, desired), factory)
            stack.callback(close_clients, clients)
        yield Run(settings, desired, clients)


def _open_clients_soon(
    settings: Settings, factory: ClientFactory
) -> dict[Provider, Future[ProviderClient]]:
    """The clients of the providers with a key, each being built on a thread of its own:
    their SSL contexts load in parallel, outside the GIL."""
    keyed = [p for p in PROVIDERS if settings.provider(p).api_key is not None]
    if not keyed:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(keyed), thread_name_prefix="clients")
    built = {provider: pool.submit(factory, provider, settings) for provider in keyed}
    pool.shutdown(wait=False)  # the threads end with their work
    return built


def _built(early: Mapping[Provider, Future[ProviderClient]]) -> dict[Provider, ProviderClient]:
    return {provider: future.result() for provider, future in early.items()}


def _close_early(early: Mapping[Provider, Future[ProviderClient]]) -> None:
    """Close what was built early, when the run stops before using it; a client that could
    not be built has nothing to close, and the error that stopped the run is the one to see."""
    for future in early.values():
        if future.exception() is None:
            future.result().close()


def _keep_needed(
    built: dict[Provider, ProviderClient],
    settings: Settings,
    desired: Sequence[DesiredJob],
    factory: ClientFactory,
) -> dict[Provider, ProviderClient]:
    """The clients ``providers_to_observe`` asks for: those built early, and any other."""
    wanted = providers_to_observe(settings, desired)
    close_clients({p: client for p, client in built.items() if p not in wanted})
    added = open_clients(settings, [p for p in wanted if p not in built], factory)
    return {p: built[p] if p in built else added[p] for p in wanted}


def default_client_factory(provider: Provider, settings: Settings) -> ProviderClient:
    from reconciler.providers.registry import build_client

    return build_client(provider, settings)
