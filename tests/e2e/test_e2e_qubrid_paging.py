"""Qubrid paging under a server that ignores ``offset`` (the ``qubrid.offset=ignored`` variant).

Every page is then the first page. With fewer jobs than a page the first page is the whole list
and a converge is as usual (``test_e2e_variants.py``); with more, the client cannot see past the
first page: it must say the list cannot be trusted and create nothing on Qubrid (a job it did
not see may be the one a spec names), while the other providers converge.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, example_spec_names, job_rows, live_jobs

EXAMPLES = example_spec_names()
SEEDED = 250  # more than the largest page Qubrid allows (100)


@pytest.mark.parametrize("total", ["present", "missing"])
def test_an_ignored_offset_over_more_than_a_page_blocks_qubrid_and_creates_nothing_there(
    reconcile: Cli, running: RunningSandbox, repo: Path, total: str
) -> None:
    running.control.seed("qubrid", SEEDED)
    running.control.set_variants(**{"qubrid.offset": "ignored", "qubrid.total": total})

    result = reconcile()

    assert result.exit_code == 1, result.output
    assert "Qubrid ignored `offset`" in result.output
    assert "cannot be trusted" in result.output
    assert job_rows(running)["qubrid"] == SEEDED  # no Qubrid job created
    # The others converge: read back with a server that pages properly.
    running.control.set_variants(**{"qubrid.offset": "honoured", "qubrid.total": "present"})
    others = Counter(example for example in EXAMPLES if example[0] != "qubrid")
    live = live_jobs(running, repo)
    assert Counter({key: n for key, n in live.items() if key[0] != "qubrid"}) == others
    assert not [key for key in live if key[0] == "qubrid" and key[1] is not None]


def test_an_honoured_offset_over_more_than_a_page_converges(
    reconcile: Cli, running: RunningSandbox, repo: Path
) -> None:
    running.control.seed("qubrid", SEEDED)

    assert reconcile().exit_code == 0
    assert job_rows(running)["qubrid"] == SEEDED + sum(1 for p, _ in EXAMPLES if p == "qubrid")
    assert reconcile("--dry-run", "--detailed-exitcode").exit_code == 0
