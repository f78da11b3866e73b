"""The sandbox: a local emulator of the Segmind, Qubrid and Cohere fine-tuning APIs.

One ASGI app (``app.py``) mounts each provider's routes (``segmind.py``, ``qubrid.py``,
``cohere.py``) next to a fake pre-signed object store (``objects.py``) and a control API for
tests and demos (``control.py``). State lives in SQLite (``store.py``); jobs walk their
provider's status sequence on a simulated clock (``clock.py``, ``lifecycle.py``); faults are
injected per route (``faults.py``). ``server.py`` serves it; ``testing.py`` starts it in a
thread for tests. Nothing here is imported by the CLI unless the sandbox is used.
"""
