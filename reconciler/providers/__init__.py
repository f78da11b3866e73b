"""Providers: one folder per provider, and what they all share.

Each of ``segmind/``, ``qubrid/`` and ``cohere/`` holds the provider's adapter
(``adapter.py``: its HTTP API exactly as ``shared/providers/CONTRACTS.md`` documents it,
behind the ``ProviderClient`` protocol), its profile (``profile.py``: every other fact of the
provider, as a ``ProviderProfile`` value) and the checks of its datasets (``checks.py``).

Shared: ``base.py`` (the protocol, the capabilities an adapter may add to it, and the error
tree), ``http.py`` (transport and retries), ``profile.py`` (the ``ProviderProfile`` type),
``profiles.py`` (``PROFILES``, every provider's profile), ``dataset_checks.py`` (a local
dataset checked for its provider) and ``registry.py`` (adapters built from ``Settings``).

Layers (``.importlinter``): the profiles are light values that config, specs and the diff
read; the dataset checks sit above ``reconciler.datasets``; the adapters above the profiles,
HTTP and the protocol. Side effects of the reconciler live in the adapters, in ``reconciler.apply``
and in ``reconciler.watch`` only.
"""
