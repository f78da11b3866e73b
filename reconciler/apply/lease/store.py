"""Where a lease record lives: the ``LeaseStore`` seam, and the lease's errors.

A store holds one record and a version token for it, and replaces it only by compare-and-swap.
Two stores exist: ``GitRefStore`` (a ref on the repository's git remote, which every machine
sees) and ``LocalFileStore`` (a file under ``.reconcile/`` when there is no remote). The
acquire/renew/release logic in ``holding`` is written once against this Protocol.

The error tree, in one place::

    LeaseError                 anything about the writer lease             (record.py)
    ├── LeaseRecordError       a record that is malformed, too large or too new, or a journal
    │                          that cannot be written                      (record.py)
    ├── LeaseConflictError     a swap found another version than expected: someone else wrote
    │                          first; the caller re-reads and decides again
    ├── LeaseUnavailableError  the medium cannot be reached or written (network, timeout, no
    │                          push access); the message says what to do
    ├── LeaseHeldError         another live holder has the lease (after waiting, if asked)
    └── LeaseLostError         the lease we held is no longer ours: taken over, or expired
                               before it could be renewed

Messages never carry a traceback, a credential or a URL's userinfo.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.apply.lease.record import LeaseError, LeaseRecord


class LeaseConflictError(LeaseError):
    """The record changed since it was read: a compare-and-swap lost."""


class LeaseUnavailableError(LeaseError):
    """The medium holding the lease cannot be reached or written."""


class LeaseHeldError(LeaseError):
    """Another live holder has the lease."""


class LeaseLostError(LeaseError):
    """The lease this process held is no longer its own."""


class LeaseStore(Protocol):
    """One lease record behind a compare-and-swap. Implementations are safe to call from
    several threads at once."""

    def read(self) -> tuple[str | None, LeaseRecord | None]:
        """The current version token and record; ``(None, None)`` when no lease exists yet.

        Raises ``LeaseUnavailableError`` when the medium cannot be reached and
        ``LeaseRecordError`` when the record there cannot be parsed.
        """
        ...

    def swap(self, expected: str | None, record: LeaseRecord) -> str:
        """Replace the record with ``record`` only if the version is still ``expected`` (None:
        no record may exist yet); returns the new version.

        Raises ``LeaseConflictError`` when the version moved, ``LeaseUnavailableError`` when
        the medium cannot be reached or written.
        """
        ...

    def describe(self) -> str:
        """Where the lease lives, for messages: "the git remote `origin` (refs/reconcile/lease)"."""
        ...
