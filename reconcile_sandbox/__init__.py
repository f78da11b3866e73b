"""The sandbox: a local emulator of the Segmind, Qubrid and Cohere fine-tuning APIs.

A distribution of its own (``reconcile-finetune-sandbox``, from ``packaging/sandbox/``) that imports
nothing from ``reconciler``: the product reaches it only for ``reconcile --sandbox`` and
``reconcile sandbox``, and works without it.

One ASGI app (``app.py``) mounts each provider's routes (one folder per provider:
``segmind/``, ``qubrid/``, ``cohere/``, each with its ``api.py``) next to a fake pre-signed
object store (``objects.py``) and a control API for tests and demos (``control.py``). State
lives in SQLite (``store.py``); jobs walk their provider's status sequence on a simulated clock
(``clock.py``, ``lifecycle.py``); faults are injected per route (``faults.py``). ``server.py``
serves it, in the foreground or on a thread; ``testing.py`` starts it for tests and drives its
control API, and ``pytest_plugin.py`` offers that as fixtures.
"""
