"""One run, composed once: open -> observe -> plan, then ``apply.converge`` writes.

``open_run`` opens what the command line and the daemon work with: settings, plan options, the
validated specs as desired jobs (``specs.desired``), then (all of that valid) the sandbox when
asked (``sandboxed``) and a client per provider (``providers.clients``). ``Run.plan`` lists and
diffs (``planning``); ``apply.converge`` takes a run on to writes under the writer lease
(``Run.writer``).

The command line reads early: the lists of the providers with a key (``EarlyLists``) and the
journal of recent writes (``apply.journal_read``) are requested during validation; one invalid
spec and the lists are abandoned. Nothing is written here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.apply.journal_read import JournalRead, start_journal_read
from reconciler.config import Settings, find_repo_root, load_settings, plan_origin
from reconciler.core.observed import RecentWrite
from reconciler.core.plan import PlanOptions, PlanOrigin, Reconciliation
from reconciler.core.spec import DesiredJob, Provider
from reconciler.observing import EarlyLists, providers_to_observe
from reconciler.planning import make_plan
from reconciler.providers.base import ProviderClient
from reconciler.providers.clients import ClientFactory, ClientPool, default_client_factory
from reconciler.sandboxed import sandbox_settings
from reconciler.specs.cache import state_dir
from reconciler.specs.desired import load_desired

if TYPE_CHECKING:
    from reconciler.apply.writer import Writer


@dataclass(frozen=True)
class Run:
    """What one command works with: settings, desired jobs, a client per provider, plan
    options, the lists started early (or None), the journal being read (or None), and what
    its plans are made for (``made_for``: the target and the spec paths)."""

    settings: Settings
    desired: tuple[DesiredJob, ...]
    clients: Mapping[Provider, ProviderClient]
    options: PlanOptions
    early: EarlyLists | None
    journal: Future[JournalRead] | None = None
    use_sandbox: bool = False
    made_for: PlanOrigin | None = None

    def recent_writes(self) -> JournalRead:
        """The journal read without the lease, and why it could not be (then it is empty:
        the plan shows what the lists show, and an apply reads it again under the lease)."""
        if self.journal is None:
            return (), None
        return self.journal.result()

    def plan(
        self, recent: Sequence[RecentWrite] | None = None, *, fresh: bool = False
    ) -> Reconciliation:
        """``make_plan`` with ``recent`` writes (default: the journal read without the lease),
        from the lists started early the first time (unless ``fresh``), else listed now."""
        listed = self.early.take() if self.early is not None else None
        if fresh:
            listed = None
        if recent is None:
            recent = self.recent_writes()[0]
        return make_plan(
            self.settings,
            self.desired,
            self.clients,
            self.options,
            listed=listed,
            recent=recent,
            made_for=self.made_for,
        )

    def writer(self, wait: float | None = None) -> contextlib.AbstractContextManager[Writer]:
        """Hold the writer lease, waiting up to ``wait`` seconds (default: ``lock_timeout``)."""
        from reconciler.apply.writer import hold_writer  # only an apply with something to write

        wait = self.settings.lock_timeout if wait is None else wait
        return hold_writer(
            self.settings, state_dir(self.settings), wait=wait, local=self.use_sandbox
        )


@contextlib.contextmanager
def open_run(
    paths: Sequence[Path],
    *,
    settings: Settings | None = None,
    use_sandbox: bool = False,
    options: Callable[[Settings], PlanOptions] | None = None,
    factory: ClientFactory | None = None,
    clients: ClientPool | None = None,
    early: bool = True,
    read_journal: bool = True,
    admit: Callable[[Settings, Sequence[DesiredJob], PlanOptions], None] | None = None,
) -> Iterator[Run]:
    """A ``Run`` of the specs under ``paths``; ``InvalidInputError`` comes before any request
    that depends on the specs. No lease is taken here (``Run.writer`` takes it).

    ``settings`` None: read from the repository of ``paths`` and, ``use_sandbox``, pointed at
    a sandbox started for the run; given (the daemon's), they point where the run goes.
    ``use_sandbox`` also keeps the lease local. ``clients``: a pool the caller keeps (the
    daemon's); None: the run's own, of ``factory``'s clients. ``early``: the options first (a
    usage error stops the run before anything else), then the lists (not under ``--sandbox``:
    its endpoints are known once it runs) and the journal requested during validation; else
    all of that follows validation, and ``admit`` may stop the run before any request."""
    sandbox_here = use_sandbox and settings is None
    if settings is None:
        settings = load_settings(find_repo_root(paths))
    plan_options = options(settings) if options is not None and early else None
    pool = clients if clients is not None else ClientPool(factory or default_client_factory)
    with contextlib.ExitStack() as stack:
        journal = start_journal_read(settings, use_sandbox) if read_journal and early else None
        lists = EarlyLists.start(settings, pool.factory) if early and not use_sandbox else None
        try:
            desired = tuple(load_desired(settings, paths))
            if plan_options is None:
                plan_options = options(settings) if options is not None else PlanOptions()
            if admit is not None:
                admit(settings, desired, plan_options)
            built = lists.clients() if lists is not None else {}
        except BaseException:
            if lists is not None:
                lists.abandon()
            raise
        if sandbox_here:
            settings = stack.enter_context(sandbox_settings(settings))
        if clients is None:
            stack.enter_context(pool)  # its clients close before the sandbox stops
        pool.adopt(settings, built)
        if read_journal and journal is None:
            journal = start_journal_read(settings, use_sandbox)
        wanted = pool.clients_for(settings, providers_to_observe(settings, desired))
        origin = plan_origin(settings, paths, sandbox=use_sandbox)
        yield Run(settings, desired, wanted, plan_options, lists, journal, use_sandbox, origin)
