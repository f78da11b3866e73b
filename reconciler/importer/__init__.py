"""Adoption: spec files written for jobs that already exist on a provider (``reconcile import``).

A team that trained jobs before using reconcile adopts them by importing: one list of the
provider (read as every run reads it), then one spec per remote job name, written so that a
dry run right after shows no change for it. The steps, each usable on its own:

- ``select``: which jobs become specs, seen and paired as the diff sees them (pure);
- ``document``: one remote job -> the spec's fields, in a fixed order (pure);
- ``write``: each document rendered, checked as ``reconcile validate`` would, and written only
  if no file is in the way;
- ``command``: ``import_jobs``, the whole command composed with ``reconciler.run``, and its
  report.

Any step that cannot go ahead raises ``ImportRefusedError``, and then nothing is written.
"""


class ImportRefusedError(Exception):
    """The import cannot go ahead (unreadable list, bad ``--match``, files in the way);
    nothing was written. The message says what to do."""
