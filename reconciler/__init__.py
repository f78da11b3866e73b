"""reconcile: a declarative, GitOps-style reconciler for ML fine-tuning jobs.

The package is layered so that each module imports only downward (``.importlinter``):
``cli`` -> ``views`` -> (``apply``, ``watch``) -> (``diff``, ``providers``) -> (``specs``,
``datasets``, ``model``, ``diagnostics``). The top-level import stays light on purpose:
``reconcile --help`` must not pay for HTTP clients, YAML parsers or the sandbox.
"""

__version__ = "0.1.0"
