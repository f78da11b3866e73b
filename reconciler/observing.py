"""Reading the providers: every provider's lists on threads of their own, at once.

``start_observing`` requests each client's lists on a thread and returns the futures;
``observe_each`` yields the observations as they complete and ``observe_all`` waits for all
of them. A provider that cannot be read becomes an incomplete observation carrying its error,
so the plan changes nothing there.

``providers_to_observe`` says which providers a run lists. ``EarlyLists`` starts the lists
before the specs are validated. What a run reads does not depend on its specs: every provider
with an API key is listed, whatever the specs say (``keyed_providers``). So the lists are
read while the specs are checked, and the diff starts from lists already on their way.
Validation still comes before the first write (DESIGN, principle 3): only list requests go
out early. When validation fails, the lists are
abandoned: their clients are closed, which ends every retry wait and stops every page not yet
requested. A request already in flight runs to its answer (or its read timeout): closing a
socket from another thread does not interrupt a read, and the process, on its way out, lets
its worker threads finish what they are doing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import replace
from typing import TYPE_CHECKING

from reconciler.core.observed import ObservedState, ProviderObservation
from reconciler.core.spec import PROVIDERS, DesiredJob, Provider
from reconciler.providers.base import ProviderClient, ProviderError
from reconciler.providers.clients import ClientFactory

if TYPE_CHECKING:
    from reconciler.config import Settings

Listing = Mapping[Provider, "Future[ProviderObservation]"]
"""Each provider's observation, being read."""


def providers_to_observe(settings: Settings, desired: Sequence[DesiredJob]) -> list[Provider]:
    """Providers a spec names, and those with an API key (so ``--prune`` and ``status`` see
    them); a provider with neither is of no concern to this repository."""
    named = {job.spec.provider for job in desired}
    return [p for p in PROVIDERS if p in named or settings.providers[p].api_key is not None]


def keyed_providers(settings: Settings) -> list[Provider]:
    """The providers with an API key: ``providers_to_observe`` lists them whatever the specs
    say, so their lists can be requested before the specs are read."""
    return [p for p in PROVIDERS if settings.providers[p].api_key is not None]


def observe_all(clients: Mapping[Provider, ProviderClient]) -> ObservedState:
    """Every client's observation, all at once, in the order of ``clients``."""
    return in_client_order(clients, list(observe_each(clients)))


def observe_each(clients: Mapping[Provider, ProviderClient]) -> Iterator[ProviderObservation]:
    """Every client's observation (as ``observe_all``), each as soon as it is complete. The
    lists are requested at once, before the first is waited for."""
    return completed(start_observing(clients))


def start_observing(
    clients: Mapping[Provider, ProviderClient],
) -> dict[Provider, Future[ProviderObservation]]:
    """Each client's observation, requested on a thread of its own."""
    if not clients:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(clients), thread_name_prefix="observe")
    started = {provider: pool.submit(observe, client) for provider, client in clients.items()}
    pool.shutdown(wait=False)  # the threads end with their observation
    return started


def completed(listing: Listing) -> Iterator[ProviderObservation]:
    """The observations of ``listing`` in the order they complete."""
    return (done.result() for done in as_completed(listing.values()))


def observe(client: ProviderClient) -> ProviderObservation:
    """One client's observation, stamped with the moment its listing began (a list proves a
    job absent only when it began a settle window after the job's create was sent); a
    provider error makes it incomplete."""
    started = time.time()
    try:
        observation = client.observe()
    except ProviderError as error:
        observation = ProviderObservation(client.name, complete=False, error=str(error))
    return replace(observation, started_at=started)


def in_client_order(
    clients: Mapping[Provider, ProviderClient], observations: Sequence[ProviderObservation]
) -> ObservedState:
    by_provider = {observation.provider: observation for observation in observations}
    return ObservedState.of(*(by_provider[client.name] for client in clients.values()))


class EarlyLists:
    """The clients of ``providers``, each built on a thread of its own (their SSL contexts
    load outside the GIL), and each provider's lists, requested as soon as its client is built.

    ``clients()`` waits for the clients (re-raising an error that stopped one being built);
    ``take()`` hands the lists over once, to the first plan of the run; ``abandon()`` closes
    the clients and leaves the lists unread.
    """

    def __init__(
        self, settings: Settings, factory: ClientFactory, providers: Sequence[Provider]
    ) -> None:
        self._settings = settings
        self._factory = factory
        self._abandoned = threading.Event()
        self._clients: dict[Provider, Future[ProviderClient]] = {p: Future() for p in providers}
        self._lists: dict[Provider, Future[ProviderObservation]] = {}
        if not providers:
            return
        pool = ThreadPoolExecutor(max_workers=len(providers), thread_name_prefix="early")
        for provider in providers:
            self._lists[provider] = pool.submit(self._build_and_list, provider)
        pool.shutdown(wait=False)  # the threads end with their lists

    @classmethod
    def start(cls, settings: Settings, factory: ClientFactory) -> EarlyLists:
        """The lists of every provider with a key (``keyed_providers``), returned once their
        clients are built."""
        early = cls(settings, factory, keyed_providers(settings))
        # Building a client is mostly imports, which hold the GIL: validating meanwhile
        # would only delay the first list request. Once the clients exist, validation
        # runs while the providers answer.
        early.wait_until_built()
        return early

    def _build_and_list(self, provider: Provider) -> ProviderObservation:
        built = self._clients[provider]
        try:
            client = self._factory(provider, self._settings)
        except BaseException as error:
            # Both futures carry it: the run sees it when it asks for the clients.
            built.set_exception(error)
            raise
        # This thread is the only one to complete ``built`` (a bare Future, as an executor
        # uses them), so the run and ``abandon`` see the client as soon as it exists.
        built.set_result(client)
        if self._abandoned.is_set():
            return ProviderObservation(provider, complete=False, error="not read: the run stopped")
        return observe(client)

    def wait_until_built(self) -> None:
        """Return once every client is built (or failed to be; ``clients()`` says which)."""
        wait(self._clients.values())

    def clients(self) -> dict[Provider, ProviderClient]:
        """Every client, once built."""
        return {provider: built.result() for provider, built in self._clients.items()}

    def take(self) -> dict[Provider, Future[ProviderObservation]]:
        """The lists being read, the first time; nothing after (a second plan lists again)."""
        taken, self._lists = self._lists, {}
        return taken

    def abandon(self) -> None:
        """Stop: close each client once built (now, or when its thread builds it). A list
        request in flight is left to end on its own; nothing waits for it."""
        self._abandoned.set()
        self._lists = {}
        for built in self._clients.values():
            built.add_done_callback(_close_if_built)


def _close_if_built(built: Future[ProviderClient]) -> None:
    if built.exception() is None:
        built.result().close()
