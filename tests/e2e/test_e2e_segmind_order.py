"""Segmind lists its jobs in no documented order (docs/providers.md, "Segmind"). After a replace,
a spec's name has two jobs on Segmind, which cannot delete the old one: the newest must be the
current one whatever the list's order, or every run replaces the job again, forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconcile_sandbox.testing import RunningSandbox
from tests.e2e.e2e_support import Cli, example_spec_names, job_rows

SEGMIND_EXAMPLES = sum(1 for provider, _ in example_spec_names() if provider == "segmind")


@pytest.mark.parametrize("order", ["newest-first", "oldest-first"])
def test_a_replaced_job_is_not_replaced_again_in_either_list_order(
    reconcile: Cli, running: RunningSandbox, repo: Path, order: str
) -> None:
    running.control.set_variants(**{"segmind.order": order})
    assert reconcile().exit_code == 0
    spec = repo / "specs" / "segmind-flux-pro.yaml"
    spec.write_text(spec.read_text().replace("iterations: 300", "iterations: 400"))

    replaced = reconcile("--allow-replace")
    assert replaced.exit_code == 0, replaced.output
    assert "Apply: 1 done, 0 failed, 0 blocked" in replaced.stdout
    assert job_rows(running)["segmind"] == SEGMIND_EXAMPLES + 1  # the old job stays

    again = reconcile("--allow-replace")
    assert again.exit_code == 0, again.output
    assert "0 to create, 0 to update, 0 to replace, 0 to delete" in again.stdout
    assert job_rows(running)["segmind"] == SEGMIND_EXAMPLES + 1
    assert reconcile("plan", "--detailed-exitcode").exit_code == 0
