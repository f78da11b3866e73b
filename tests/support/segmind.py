"""Segmind adapter helpers shared by the quirk tests: a client aimed at the sandbox, a FLUX_PRO
job, a converge of one spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import ProviderSettings
from reconciler.core.spec import DesiredJob
from reconciler.providers.http import RetryPolicy
from reconciler.providers.segmind.adapter import SegmindClient
from reconciler.providers.segmind.profile import SegmindOptions
from tests.support.providers import (
    desired_for,
    segmind_settings,
    spec,
    upload_for,
)


def flux_pro(folder: Path, name: str = "mascot-flux-pro", **overrides: Any) -> DesiredJob:
    fields: dict[str, Any] = {
        "trigger_word": "TOK",
        "instance_prompt": "photo of TOK, a plush fox mascot",
        "theme": "CHARACTER",
        "access": "private",
        "parameters": {"iterations": 300, "finetune_type": "LORA", "lora_rank": 16},
    }
    fields.update(overrides)
    return desired_for(spec("segmind", name, folder, base_model="FLUX_PRO", **fields))


def client_for(
    sandbox: RunningSandbox,
    retry: RetryPolicy,
    *,
    key: str | None = None,
    transport: httpx.BaseTransport | None = None,
    settings: ProviderSettings[SegmindOptions] | None = None,
) -> SegmindClient:
    return SegmindClient(
        settings or segmind_settings(sandbox, key), retry=retry, transport=transport
    )


def converge_one(client: SegmindClient, desired: DesiredJob) -> tuple[str, str]:
    """Upload and submit ``desired``; returns (job id, s3_url)."""
    s3_url = client.upload_dataset(upload_for(desired), desired)
    return client.create(desired, s3_url), s3_url
