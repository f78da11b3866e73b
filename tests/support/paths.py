"""Where the tests find the repository and their data, whatever folder a test module is in."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository's root (pyproject.toml, specs/, docs/, bench/)."""

TESTS = REPO / "tests"
GOLDEN = TESTS / "golden"
"""Expected outputs: golden plans, and plan files written by earlier versions (planfiles/)."""

BAD_SPECS = TESTS / "bad_specs"
"""The corpus of invalid specs and the messages `reconcile validate` gives for them."""
