"""The journal of recent writes read for a plan: without the lease, on a thread of its own.

A plan that only shows what would happen still knows the creates another apply sent a moment
ago (``reconciler.apply.journal``), so it does not plan them again. Finding the git remote and
reading its lease ref are subprocesses and a round trip, which overlap the lists this way. A
journal that cannot be read is not an error here: the plan shows what the lists show, and an
apply reads the journal again under the lease (``reconciler.apply.writer.hold_writer``).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from reconciler.config import Settings
from reconciler.core.observed import RecentWrite
from reconciler.specs.cache import state_dir

JournalRead = tuple[tuple[RecentWrite, ...], str | None]
"""The journal of recent writes read without the lease, and why it could not be (or None)."""


def start_journal_read(settings: Settings, local: bool) -> Future[JournalRead]:
    """The journal of recent writes, read on a thread of its own (finding the git remote and
    reading its lease ref are subprocesses and a round trip, which overlap the lists)."""
    result: Future[JournalRead] = Future()

    def read() -> None:
        # Imported on this thread: the lease's modules (git, file locks) cost a dry run about
        # 30 ms before its first list request when imported with the run.
        from reconciler.apply.journal import JournalError
        from reconciler.apply.lease import LeaseError
        from reconciler.apply.writer import lease_store, read_recent_writes

        try:
            store = lease_store(settings, state_dir(settings), local=local)
            result.set_result((read_recent_writes(store), None))
        except (LeaseError, JournalError) as error:
            result.set_result(((), f"the journal of recent writes could not be read ({error})"))
        except BaseException as error:
            result.set_exception(error)

    # Not a daemon thread: a run that stops early (an invalid spec) exits while this thread may
    # still be importing or reading; the interpreter tearing down under a daemon thread in an
    # import crashed such runs (SIGSEGV after the message). Exit waits for it instead, bounded
    # by the git call's own timeout.
    threading.Thread(target=read, name="journal", daemon=False).start()
    return result
