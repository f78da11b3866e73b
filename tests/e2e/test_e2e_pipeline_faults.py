"""The pipelined apply against the sandbox over real HTTP when something goes wrong in a stage:
the apply always ends, with each job submitted at most once.

The sandbox's clock stands still (speed 0) where a dataset must stay validating; the pollers'
pause drives it, so every step is an event, not a timing."""

from __future__ import annotations

import threading
from pathlib import Path

from reconcile_sandbox.testing import RunningSandbox
from reconciler.apply.executor import ApplyExecutor
from reconciler.core.outcome import ApplyResult, OutcomeKind
from reconciler.core.plan import Plan
from reconciler.core.spec import Provider
from reconciler.providers.base import ProviderClient
from reconciler.providers.cohere.adapter import CohereClient
from tests.e2e.test_e2e_pipeline import VALIDATION_SECONDS, Ticks, cohere_job, plan_against
from tests.support.providers import cohere_settings

# The most an apply of a job or two may take here; past it, the apply is taken as hung.
HUNG_AFTER_SECONDS = 30.0


def apply_or_hang(executor: ApplyExecutor, plan: Plan) -> ApplyResult:
    """``executor.apply(plan)``, failing the test (not hanging it) when it never returns."""
    results: list[ApplyResult] = []
    thread = threading.Thread(target=lambda: results.append(executor.apply(plan)), daemon=True)
    thread.start()
    thread.join(HUNG_AFTER_SECONDS)
    assert not thread.is_alive(), "the apply never ended: a job is waited for by nobody"
    (result,) = results
    return result


def test_a_dataset_list_with_a_date_out_of_range_ends_the_apply_with_the_job_submitted_once(
    running: RunningSandbox, tmp_path: Path
) -> None:
    # The plan's list of Cohere datasets shows someone else's dataset made in the year 1 (a
    # date no arithmetic may go below). The upload that follows takes that date as the bound
    # its list begins at; the poller waiting for its validation must not die of it.
    running.control.set_speed(0.0)
    running.control.add_fault(
        kind="status",
        status=200,
        method="GET",
        provider="cohere",
        path="/v1/datasets",
        count=1,
        body={
            "datasets": [
                {
                    "id": "not-ours",
                    "name": "someone-elses-dataset",
                    "validation_status": "validated",
                    "created_at": "0001-01-01T00:00:00Z",
                }
            ]
        },
    )
    cohere = CohereClient(cohere_settings(running))
    clients: dict[Provider, ProviderClient] = {"cohere": cohere}
    plan = plan_against(clients, [cohere_job(tmp_path, 0)])

    def on_tick(number: int) -> None:
        running.control.advance_clock(VALIDATION_SECONDS)

    try:
        executor = ApplyExecutor(clients, parallelism=2, validation_pause=Ticks(on_tick))
        result = apply_or_hang(executor, plan)
    finally:
        cohere.close()

    assert [outcome.kind for outcome in result.outcomes] == [OutcomeKind.DONE]
    counts = running.control.request_counts()
    assert counts["POST /cohere/v1/datasets"] == 1
    assert counts["POST /cohere/v1/finetuning/finetuned-models"] == 1
