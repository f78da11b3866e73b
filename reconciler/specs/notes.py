"""Notes and warnings about the input that are no problems: what spec discovery skipped, and
a state folder (``.reconcile``) left unused. A problem stops the run (``Diagnostic``); a note
only informs, so it is logged to ``reconciler.specs`` instead. With no logging configured (the
command line), Python's last-resort handler prints each one on stderr as it is written here:
``reconcile: note: ...``. Names in them come from the repository and are escaped.
"""

from __future__ import annotations

from reconciler.sanitize import one_line

LOGGER_NAME = "reconciler.specs"
_given: set[str] = set()


def note(message: str) -> None:
    """Tell the user about something skipped that may have been meant (``message`` is one
    line; it is escaped here)."""
    _log(f"reconcile: note: {one_line(message)}")


def warn_once(message: str) -> None:
    """A warning, given once per process however often the condition is met (a daemon
    meets it on every run)."""
    if message not in _given:
        _given.add(message)
        _log(f"reconcile: warning: {one_line(message)}")


def _log(line: str) -> None:
    # Imported here: logging costs a command line 7 ms, and most runs have nothing to say.
    import logging

    logging.getLogger(LOGGER_NAME).warning(line)
