"""Qubrid's job pages fetched a few at a time: the same requests, every job once, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from reconcile_sandbox.testing import RunningSandbox
from reconciler.providers.http import RetryPolicy
from reconciler.providers.qubrid.adapter import QubridClient
from reconciler.providers.qubrid.paging import PAGE_LIMIT
from tests.support.providers import qubrid_settings

BASE = "/qubrid/api/v1/fine-tuning"


class _AfterFirstPage(httpx.BaseTransport):
    """Calls ``hook`` once, after the job page at offset 0 has been answered."""

    def __init__(self, hook: Callable[[], object]) -> None:
        self.inner = httpx.HTTPTransport()
        self.hook: Callable[[], object] | None = hook

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        first_page = request.url.path.endswith("/fine-tuning/jobs") and request.url.params.get(
            "offset"
        ) in (None, "0")
        if first_page and self.hook is not None:
            response.read()
            hook, self.hook = self.hook, None
            hook()
        return response

    def close(self) -> None:
        self.inner.close()


def listed_one_page_after_another(sandbox: RunningSandbox) -> list[str]:
    """Job ids as Qubrid lists them, paged by hand, one page after another."""
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {sandbox.keys['qubrid']}"}
    with httpx.Client(base_url=sandbox.base_url("qubrid"), headers=headers) as client:
        offset = 0
        while True:
            page: dict[str, Any] = client.get(
                "/fine-tuning/jobs", params={"limit": PAGE_LIMIT, "offset": offset}
            ).json()
            ids.extend(item["id"] for item in page["data"])
            offset += len(page["data"])
            if not page["data"] or offset >= page["total"]:
                return ids


def test_many_pages_cost_one_request_each_and_keep_the_listed_order(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("qubrid", 1_050)  # 11 pages: more than are ever in flight
    expected = listed_one_page_after_another(sandbox)
    sandbox.control.clear_requests()

    observation = QubridClient(qubrid_settings(sandbox), retry=fast_retry).observe()

    assert observation.complete, observation.error
    assert [job.remote_id for job in observation.jobs] == expected
    assert len(set(expected)) == 1_050
    assert sandbox.control.request_counts() == {
        f"GET {BASE}/jobs": 11,
        f"GET {BASE}/datasets": 1,
        f"GET {BASE}/models": 1,
    }
    # Newest first in the list: the first listed is the newest (largest sequence).
    sequences = [job.sequence for job in observation.jobs]
    assert sequences == sorted(sequences, reverse=True)


def test_a_job_created_while_paging_is_harmless(
    sandbox: RunningSandbox, fast_retry: RetryPolicy
) -> None:
    sandbox.control.seed("qubrid", 250)
    before = set(listed_one_page_after_another(sandbox))
    transport = _AfterFirstPage(lambda: sandbox.control.seed("qubrid", 1))
    client = QubridClient(qubrid_settings(sandbox), retry=fast_retry, transport=transport)

    observation = client.observe()

    assert transport.hook is None  # the job was created between pages
    assert observation.complete, observation.error
    seen = [job.remote_id for job in observation.jobs]
    assert len(seen) == len(set(seen))  # a job shifted onto the next page is kept once
    assert before <= set(seen)  # and none is lost
    assert len(set(listed_one_page_after_another(sandbox))) == 251
