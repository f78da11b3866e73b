"""Qubrid: its adapter (``adapter.py``), its profile (``profile.py``) and the checks of its
datasets (``checks.py``)."""
