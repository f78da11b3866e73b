"""Executing a plan: everything that writes to the providers, and what keeps those writes safe.

- ``converge``: plan, ask, take the writer lease, plan again under it, apply: the one path
  from a plan to writes, for the command line and the daemon; a saved plan is applied exactly
  or refused as stale;
- ``executor``: carries out a ``Plan``'s changes in phases, in parallel, creates as a pipeline
  (upload, validation, submit), each create sent at most once while its outcome is unknown;
- ``validation``: waiting for datasets a provider validates, one poller per provider, one list
  per tick, holding no worker;
- ``writer``: the writer lease as the executor's ``WriteGuard``, and the journal it carries;
- ``journal``: the journal of recent writes (the creates of the last settle window);
- ``journal_read``: that journal read without the lease, for a plan;
- ``lease/``: the writer lease itself: its record, its stores (a ref on the git remote, a
  file under ``.reconcile/``) and how it is held.

Nothing is imported here: a dry run loads ``journal_read`` alone, and the lease's modules
only on the thread that reads the journal.
"""
