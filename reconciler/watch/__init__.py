"""``reconcile --watch``: the daemon that keeps the providers converged with the checkout.

    daemon.py       the worker loop: triggers -> one run at a time -> schedule the next
    triggers.py     the one coalescing queue of triggers, counting what each run answers
    files.py        file events (watchfiles) under the checkout
    schedule.py     resync interval, jitter, faster polling while jobs train, backoff, the
                    spacing of webhook runs
    transitions.py  job status transitions between runs
    commits.py      the committed tree: HEAD, the refs that move it, its snapshot
    git.py          running git: no prompt, a timeout, redacted messages
    gitpull.py      ``--pull``: git pull --ff-only before a resync
    listener.py     ``--listen``: /healthz, /metrics, /webhook on uvicorn, its connection
                    limits and timeouts, signed webhook deliveries and their replay window
    metrics.py      the Prometheus metrics
    logs.py         text or JSON event lines, redacted
    singleton.py    one daemon per checkout (lock under .reconcile/)
    lock.py         the file lock it takes, and who holds it

``run_watch`` is what the command line calls: it sets up logging and signals, runs the daemon
until SIGTERM/SIGINT, and returns the exit code.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from types import FrameType

from reconciler.binding import cannot_listen
from reconciler.core.diagnostics import InvalidInputError
from reconciler.redact import register_secret
from reconciler.watch.daemon import Daemon, RunRecord, RunResult, WatchOptions
from reconciler.watch.listener import WEBHOOK_SECRET_VARIABLE, ListenAddressError
from reconciler.watch.logs import EventLog, LogFormat, configure_logging
from reconciler.watch.singleton import DaemonLockHeldError

__all__ = [
    "WEBHOOK_SECRET_VARIABLE",
    "Daemon",
    "DaemonLockHeldError",
    "RunRecord",
    "RunResult",
    "WatchOptions",
    "run_watch",
]

# After SIGTERM, the run in flight gets this long to finish before the process exits anyway
# (within the 5 s a supervisor typically allows). Exiting mid-run is safe: every run starts
# from fresh observations, and a write whose answer was lost is found by the next run.
SHUTDOWN_GRACE_SECONDS = 4.0


def run_watch(options: WatchOptions, log_format: LogFormat = "text") -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT; the exit code (0, or 1 when
    it cannot start: another daemon on the checkout, a bad ``--listen``). Without a
    ``webhook_secret`` in ``options``, it comes from ``RECONCILE_WEBHOOK_SECRET``."""
    configure_logging(log_format)
    log = EventLog()
    if options.webhook_secret is None and os.environ.get(WEBHOOK_SECRET_VARIABLE):
        options = replace(options, webhook_secret=os.environ[WEBHOOK_SECRET_VARIABLE])
    if options.webhook_secret:
        register_secret(options.webhook_secret)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second signal: the operator does not want to wait
            log.warning("daemon.killed", "second signal: exiting now")
            logging.shutdown()
            os._exit(1)
        log.info("daemon.stopping", f"{signal.Signals(number).name}: finishing the run in flight")
        stop.set()

    daemon = Daemon(options, log=log)
    try:
        daemon.open()
    except (DaemonLockHeldError, ListenAddressError) as error:
        log.error("daemon.refused", str(error))
        return 1
    except InvalidInputError as error:  # the checkout itself: e.g. a symlinked .reconcile
        for problem in error.diagnostics:
            log.error("daemon.refused", str(problem))
        return 1
    except OSError as error:
        log.error("daemon.refused", cannot_listen(str(options.listen), error, "--listen HOST:PORT"))
        return 1
    previous = {
        number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)
    }
    worker = threading.Thread(
        target=daemon.run_until, args=(stop,), name="watch-worker", daemon=True
    )
    worker.start()
    try:
        while worker.is_alive() and not stop.is_set():
            stop.wait(0.5)
        daemon.queue.close()
        worker.join(SHUTDOWN_GRACE_SECONDS)
        if worker.is_alive():
            log.warning(
                "daemon.abandoned_run",
                "the run in flight did not finish in time; exiting anyway (the next start"
                " converges from fresh observations)",
            )
            logging.shutdown()
            sys.stderr.flush()
            # The apply's worker threads would be joined at exit; the lock is released by
            # the operating system when the process ends.
            os._exit(0)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    daemon.close()
    return 0
