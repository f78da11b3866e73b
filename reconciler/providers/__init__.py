"""Provider adapters: one module per provider behind the ``ProviderClient`` protocol.

``base.py`` holds the protocol and the error tree every adapter raises; ``segmind.py``,
``qubrid.py`` and ``cohere.py`` speak their provider's HTTP API exactly as
``shared/providers/CONTRACTS.md`` documents it. Side effects of the reconciler live here, in
``reconciler.apply`` and in ``reconciler.watch`` only.
"""
