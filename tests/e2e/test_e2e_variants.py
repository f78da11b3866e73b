"""Every reading of the documents' open questions the sandbox can take (``Provider.variants``):
under each, a converge of the example specs (a spec per provider and base model) ends with
exactly one job per spec, and a second dry run has nothing to do.

The variants are read from the sandbox's own providers, so a variant added to a provider's
emulator is tested here without touching this file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconcile_sandbox.app import load_providers
from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, example_spec_names, job_rows, live_jobs

EXAMPLES = example_spec_names()
# Readings under which a provider refuses the work itself, so no converge can succeed: each is
# tested in its own e2e test instead (Cohere's deprecation: test_e2e_cohere_deprecated.py, and
# its writes refused while the lists answer: test_e2e_cohere_deprecated_writes.py).
REFUSING = frozenset(
    {("cohere.finetuning", "deprecated"), ("cohere.finetuning", "deprecated-writes")}
)


def readings() -> list[tuple[str, str] | None]:
    """``None`` (every default), then each other value of each variant, one at a time."""
    found: list[tuple[str, str] | None] = [None]
    for provider in load_providers():
        for name, values in sorted(provider.variants.items()):
            found.extend(
                (f"{provider.name}.{name}", value)
                for value in values[1:]
                if (f"{provider.name}.{name}", value) not in REFUSING
            )
    return found


@pytest.mark.parametrize(
    "reading", readings(), ids=lambda r: "defaults" if r is None else f"{r[0]}={r[1]}"
)
def test_under_each_reading_a_converge_makes_one_job_per_spec_and_then_has_nothing_to_do(
    reconcile: Cli, running: RunningSandbox, repo: Path, reading: tuple[str, str] | None
) -> None:
    if reading is not None:
        running.control.set_variants(**{reading[0]: reading[1]})

    first = reconcile()
    assert first.exit_code == 0, first.output
    assert live_jobs(running, repo) == Counter(EXAMPLES)
    assert sum(job_rows(running).values()) == len(EXAMPLES)

    again = reconcile()
    assert again.exit_code == 0, again.output
    assert sum(job_rows(running).values()) == len(EXAMPLES)
    dry = reconcile("--dry-run", "--detailed-exitcode")
    assert dry.exit_code == 0, dry.output
