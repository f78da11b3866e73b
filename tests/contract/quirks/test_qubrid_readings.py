"""The Qubrid adapter under every reading of the document's open questions (the sandbox's
``qubrid.*`` variants, ``reconcile_sandbox/qubrid/readings.py``) and a server whose page cap is
below the documented one: jobs found and identified, or the list reported as not trustworthy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from reconcile_sandbox.qubrid.api import PROVIDER
from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.action import Action
from reconciler.core.plan import Change, DeleteMethod
from reconciler.diff import identify_jobs
from reconciler.providers.http import RetryPolicy
from tests.support.providers import qa_csv
from tests.support.qubrid import client_for, converge_one, qa_job

SEEDED = 250  # more than the largest documented page (100)


def _readings() -> list[tuple[str, str]]:
    """Every value of every Qubrid variant about lists and ids. The create's answer
    (``create_status``) is the status codes' question: ``test_status_codes.py`` covers it."""
    return [
        (name, value)
        for name, values in PROVIDER.variants.items()
        if name != "create_status"
        for value in values
    ]


@pytest.mark.parametrize("reading", _readings(), ids=lambda r: f"{r[0]}={r[1]}")
def test_a_created_job_is_observed_identified_and_cancelled_under_each_reading(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, tmp_path: Path, reading: tuple[str, str]
) -> None:
    sandbox.control.set_variants(**{f"qubrid.{reading[0]}": reading[1]})
    client = client_for(sandbox, fast_retry)
    desired = qa_job(qa_csv(tmp_path))
    job_id, dataset_id = converge_one(client, desired)

    observation = client.observe()

    assert observation.complete, observation.error
    (job,) = identify_jobs(observation)
    assert (job.remote_id, job.dataset_ref, job.name) == (job_id, dataset_id, "support-bot")
    assert isinstance(job.remote_id, str) and job.health.is_live
    cancel = Change(
        Action.DELETE,
        "qubrid",
        "support-bot",
        "pruned",
        target_id=job_id,
        delete_method=DeleteMethod.CANCEL_JOB,
    )
    client.delete(cancel)
    assert client.observe().jobs[0].raw_status == "cancelled"


@pytest.mark.parametrize("total", ["present", "missing"])
@pytest.mark.parametrize("shape", ["object", "array"])
def test_more_than_a_page_is_read_whole_whether_or_not_a_total_comes(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, total: str, shape: str
) -> None:
    sandbox.control.seed("qubrid", SEEDED)
    sandbox.control.set_variants(**{"qubrid.total": total, "qubrid.list_shape": shape})

    observation = client_for(sandbox, fast_retry).observe()

    assert observation.complete, observation.error
    ids = [job.remote_id for job in observation.jobs]
    assert len(set(ids)) == len(ids) == SEEDED
    sequences = [job.sequence for job in observation.jobs]
    assert sequences == sorted(sequences, reverse=True)  # newest first


@pytest.mark.parametrize("total", ["present", "missing"])
def test_an_ignored_offset_over_more_than_a_page_is_an_untrustworthy_list(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, total: str
) -> None:
    sandbox.control.seed("qubrid", SEEDED)
    sandbox.control.set_variants(**{"qubrid.offset": "ignored", "qubrid.total": total})

    observation = client_for(sandbox, fast_retry).observe()

    assert not observation.complete
    assert observation.error is not None
    assert "Qubrid ignored `offset`" in observation.error
    assert "the job list cannot be trusted; nothing was changed on Qubrid" in observation.error


def test_an_ignored_offset_within_one_page_is_the_whole_list(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("qubrid", 30)
    sandbox.control.set_variants(**{"qubrid.offset": "ignored"})

    observation = client_for(sandbox, fast_retry).observe()

    assert observation.complete, observation.error
    assert len(observation.jobs) == 30


class _PageIndexServer(httpx.BaseTransport):
    """Reads ``offset`` as a page number: past the first page every page is empty."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        offset = request.url.params.get("offset")
        if request.url.path.endswith("/fine-tuning/jobs") and offset not in (None, "0"):
            page = int(offset or 0) * 100
            request.url = request.url.copy_set_param("offset", str(page))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_pages_that_end_short_of_the_total_are_an_untrustworthy_list(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("qubrid", SEEDED)
    client = client_for(sandbox, fast_retry, transport=_PageIndexServer())

    observation = client.observe()

    assert not observation.complete
    assert observation.error is not None
    assert f"Qubrid reported {SEEDED} fine-tuning jobs but its pages held only 100" in (
        observation.error
    )


class _PageCap(httpx.BaseTransport):
    """A server whose page cap is ``cap``: a larger ``limit`` is a 400, as the sandbox answers
    above the documented 100."""

    def __init__(self, cap: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.cap = cap
        self.limits: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/fine-tuning/jobs") and request.method == "GET":
            limit = request.url.params.get("limit")
            self.limits.append(limit)
            if limit is not None and int(limit) > self.cap:
                return httpx.Response(
                    400,
                    json={
                        "error": {
                            "message": f"limit must be at most {self.cap}",
                            "type": "invalid_request_error",
                            "code": "invalid_limit",
                        }
                    },
                )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(("cap", "used"), [(50, "50"), (30, "20")])
def test_the_page_size_steps_down_on_a_400(
    sandbox: RunningSandbox, fast_retry: RetryPolicy, cap: int, used: str
) -> None:
    sandbox.control.seed("qubrid", 120)
    transport = _PageCap(cap)

    observation = client_for(sandbox, fast_retry, transport=transport).observe()

    assert observation.complete, observation.error
    assert len({job.remote_id for job in observation.jobs}) == 120
    assert transport.limits[0] == "100"
    assert set(transport.limits[transport.limits.index(used) :]) == {used}


def test_without_the_models_route_jobs_are_observed_and_the_loss_is_said(
    sandbox: RunningSandbox,
    fast_retry: RetryPolicy,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.control.set_variants(**{"qubrid.models_route": "missing"})
    client = client_for(sandbox, fast_retry)
    job_id, _ = converge_one(client, qa_job(qa_csv(tmp_path)))

    with caplog.at_level(logging.WARNING, logger="reconciler.providers"):
        observation = client.observe()

    assert observation.complete, observation.error
    assert [job.remote_id for job in observation.jobs] == [job_id]
    assert "GET /fine-tuning/models answered 404" in caplog.text
    assert "a completed job whose model was deleted still shows as completed" in caplog.text
