"""The values every layer of the reconciler shares, pure and importing nothing above them.

- ``spec``: what a spec says (``FineTuneSpec``) and the job the repository wants (``DesiredJob``);
- ``marker``: what the name of an uploaded dataset says about who uploaded it and what it holds;
- ``observed``: what the providers' lists showed (``ObservedJob``, ``Health``, ...);
- ``action``: what a plan does to one job;
- ``plan``: the plan as a value (``Change``, ``Plan``, ``PlanOptions``, ...);
- ``diagnostics``: problems in the user's input, collected and reported together.

All are frozen values: a plan can be compared, saved (``reconciler.planfile``) and applied
exactly. Nothing here does I/O; the only imports from the rest of the package are
``reconciler.redact`` and ``reconciler.sanitize``, the layer below.
"""
