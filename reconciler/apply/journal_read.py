"""The journal of recent writes read for a plan: without the lease, on a thread of its own.

A plan that only shows what would happen still knows the creates another apply sent a moment
ago (``reconciler.apply.journal``), so it does not plan them again. Finding the git remote and
reading its lease ref are subprocesses and a round trip, which overlap the lists this way. A
journal that cannot be read is not an error here: the plan shows what the lists show, and an
apply reads the journal again under the lease (``reconciler.apply.writer.hold_writer``).
"""

from __future__ import annotations

import atexit
import threading
from concurrent.futures import Future

from reconciler.config import Settings
from reconciler.core.observed import RecentWrite
from reconciler.specs.cache import state_dir

JournalRead = tuple[tuple[RecentWrite, ...], str | None]
"""The journal of recent writes read without the lease, and why it could not be (or None)."""

# The reads under way that have not yet imported the lease's modules (see ``_imports_end``).
_importing: set[threading.Event] = set()
# How long exit waits for those imports at most (they take milliseconds; a bound, not a wait).
IMPORT_WAIT_SECONDS = 10.0


@atexit.register
def _imports_end() -> None:
    """At exit, let a journal read that is still importing finish its imports. The read runs
    on a daemon thread, so a run that stops early (an invalid spec) never waits for git; but
    the interpreter tearing down under a thread in an import crashed such runs (SIGSEGV after
    the message). Once imported, the read may be left where it is."""
    for imported in list(_importing):
        imported.wait(IMPORT_WAIT_SECONDS)


def start_journal_read(settings: Settings, local: bool) -> Future[JournalRead]:
    """The journal of recent writes, read on a thread of its own (finding the git remote and
    reading its lease ref are subprocesses and a round trip, which overlap the lists)."""
    result: Future[JournalRead] = Future()
    imported = threading.Event()
    _importing.add(imported)

    def read() -> None:
        # Imported on this thread: the lease's modules (git, file locks) cost a dry run about
        # 30 ms before its first list request when imported with the run.
        try:
            from reconciler.apply.journal import JournalError
            from reconciler.apply.lease import LeaseError
            from reconciler.apply.writer import lease_store, read_recent_writes
        except BaseException as error:
            result.set_exception(error)
            return
        finally:
            imported.set()
            _importing.discard(imported)
        try:
            store = lease_store(settings, state_dir(settings), local=local)
            result.set_result((read_recent_writes(store), None))
        except (LeaseError, JournalError) as error:
            result.set_result(((), f"the journal of recent writes could not be read ({error})"))
        except BaseException as error:
            result.set_exception(error)

    # A daemon thread: exit does not wait for git (up to its timeout, with a remote that does
    # not answer), only for the imports (``_imports_end``).
    threading.Thread(target=read, name="journal", daemon=True).start()
    return result
