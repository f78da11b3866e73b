"""Qubrid adapter helpers shared by the quirk tests: a client aimed at the sandbox, a QA job, a
converge of one spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from reconcile_sandbox.testing import RunningSandbox
from reconciler.core.spec import DesiredJob
from reconciler.providers.http import RetryPolicy
from reconciler.providers.qubrid.adapter import QubridClient
from tests.support.providers import (
    desired_for,
    qubrid_settings,
    spec,
    upload_for,
)

BASE_MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"


def qa_job(csv: Path, name: str = "support-bot", **overrides: Any) -> DesiredJob:
    fields: dict[str, Any] = {
        "task_type": "qa",
        "parameters": {"epochs": 2, "learning_rate": 0.0001},
    }
    fields.update(overrides)
    return desired_for(spec("qubrid", name, csv, base_model=BASE_MODEL, **fields))


def client_for(
    sandbox: RunningSandbox,
    retry: RetryPolicy,
    *,
    key: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> QubridClient:
    return QubridClient(qubrid_settings(sandbox, key), retry=retry, transport=transport)


def converge_one(client: QubridClient, desired: DesiredJob) -> tuple[str, str]:
    """Upload and create ``desired``; returns (job id, dataset id)."""
    dataset_id = client.upload_dataset(upload_for(desired), desired)
    return client.create(desired, dataset_id), dataset_id
