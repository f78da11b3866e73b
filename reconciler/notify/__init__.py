"""Notifications: a webhook told when a managed job finishes training or fails, and when an
apply fails (``notify:`` in ``reconciler.yaml``), sent by the daemon and by
``reconcile status --wait``.

One concept per module: ``events`` (what is worth announcing, and how a job's change of health
is found), ``ledger`` (what was seen and announced, across processes), ``payload`` (the Slack
or JSON body), ``webhook`` (sending, with a timeout and a few tries) and ``notifier`` (them
together). Docs: docs/daemon.md (Notifications).
"""

from reconciler.notify.events import FailedWrite, RunInfo
from reconciler.notify.notifier import Notifier

__all__ = ["FailedWrite", "Notifier", "RunInfo"]
