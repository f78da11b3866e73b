"""The diff: specs and observed remote state in, a ``Plan`` out. Pure: no I/O, no clock.

It works in steps, as gitops engines do: each spec is first **paired** with the remote jobs of
its identity (``pair``), the paired fields are **compared** (``compare``), one **decision** per
pairing says what to do and why (``decide``), and the providers' shares are **assembled** into
one plan under its guardrails (``assemble``), whose **snapshot** (``snapshot``) lets a saved plan
be refused once the world has moved. ``.importlinter`` keeps this package pure: nothing here
reaches a provider, the sandbox, or anything that applies.

What the rest of reconciler uses is exported here.
"""

from reconciler.diff.assemble import (
    ProviderPlan,
    assemble_plan,
    desired_by_provider,
    guardrail_counts,
    plan,
    plan_provider,
)
from reconciler.diff.decide import refused_blocker
from reconciler.diff.pair import current_and_history, identify_jobs
from reconciler.diff.snapshot import snapshot_of

__all__ = [
    "ProviderPlan",
    "assemble_plan",
    "current_and_history",
    "desired_by_provider",
    "guardrail_counts",
    "identify_jobs",
    "plan",
    "plan_provider",
    "refused_blocker",
    "snapshot_of",
]
