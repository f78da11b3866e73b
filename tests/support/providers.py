"""Builders shared by the adapter tests: settings aimed at a sandbox, specs, datasets, uploads."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import ProviderSettings, Secret
from reconciler.core.plan import Upload
from reconciler.core.spec import (
    DatasetKind,
    DatasetRef,
    DesiredJob,
    FineTuneSpec,
    Provider,
    SourceLocation,
)
from reconciler.datasets.fingerprint import fingerprint_dataset
from reconciler.datasets.upload import upload_body
from reconciler.providers.cohere.profile import WANDB_KEY, CohereOptions
from reconciler.providers.http import RetryPolicy
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.profile import QubridOptions
from reconciler.providers.segmind.profile import SegmindOptions

SENTINEL_KEYS: Mapping[str, str] = {
    "segmind": "sk-SENTINEL-123",
    "qubrid": "sk-SENTINEL-456",
    "cohere": "sk-SENTINEL-789",
}
SENTINELS = tuple(SENTINEL_KEYS.values())
# The owner id of the repository the adapters' jobs belong to.
OWNER = "team"


class RecordingSleep:
    """A ``sleep`` for ``RetryPolicy`` that records every wait and really waits (briefly)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def fast_policy(sleep: RecordingSleep, attempts: int = 4, total: float = 30.0) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts, total_seconds=total, initial_wait=0.01, max_wait=0.05, sleep=sleep
    )


def _key(sandbox: RunningSandbox, provider: str, key: str | None) -> Secret:
    return Secret(key if key is not None else sandbox.keys[provider])


def segmind_settings(
    sandbox: RunningSandbox, key: str | None = None, *, base_url: str | None = None
) -> ProviderSettings[SegmindOptions]:
    return ProviderSettings(
        base_url=base_url or sandbox.base_url("segmind"),
        api_key=_key(sandbox, "segmind", key),
        options=SegmindOptions(),
    )


def qubrid_settings(
    sandbox: RunningSandbox, key: str | None = None, *, base_url: str | None = None
) -> ProviderSettings[QubridOptions]:
    return ProviderSettings(
        base_url=base_url or sandbox.base_url("qubrid"),
        api_key=_key(sandbox, "qubrid", key),
        options=QubridOptions(),
    )


def cohere_settings(
    sandbox: RunningSandbox,
    key: str | None = None,
    *,
    base_url: str | None = None,
    wandb_key: str | None = None,
) -> ProviderSettings[CohereOptions]:
    return ProviderSettings(
        base_url=base_url or sandbox.base_url("cohere"),
        api_key=_key(sandbox, "cohere", key),
        service_keys={WANDB_KEY: Secret(wandb_key)} if wandb_key else {},
        options=CohereOptions(),
    )


def image_folder(root: Path, name: str = "images", count: int = 3) -> Path:
    """A flat folder of (fake) images with captions, as Segmind wants."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"img{index}.png").write_bytes(b"\x89PNG fake image " + bytes([index]) * 200)
        (folder / f"img{index}.txt").write_text(f"photo of TOK number {index}\n")
    return folder


def qa_csv(root: Path, rows: int = 20, name: str = "qa.csv") -> Path:
    path = root / name
    lines = ["question,answer"] + [f"what is {i} plus {i}?,{2 * i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def chat_jsonl(root: Path, conversations: int = 4, name: str = "chat.jsonl") -> Path:
    import json

    path = root / name
    with path.open("w") as handle:
        for index in range(conversations):
            messages = [
                {"role": "System", "content": "You are a helpful assistant."},
                {"role": "User", "content": f"What is {index} plus {index}?"},
                {"role": "Chatbot", "content": f"It is {2 * index}."},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


def spec(
    provider: Provider,
    name: str,
    dataset: Path | str,
    *,
    kind: DatasetKind | None = None,
    base_model: str = "FLUX_PRO",
    set_fields: frozenset[str] | None = None,
    **fields: Any,
) -> FineTuneSpec:
    if kind is None:
        kind = DatasetKind.FOLDER if Path(dataset).is_dir() else DatasetKind.FILE
    return FineTuneSpec(
        name=name,
        provider=provider,
        base_model=base_model,
        dataset=DatasetRef(kind, str(dataset)),
        source=SourceLocation(Path("specs/test.yaml"), 1, 1),
        set_fields=set_fields if set_fields is not None else frozenset(fields) | {"base_model"},
        **fields,
    )


def desired_for(job_spec: FineTuneSpec) -> DesiredJob:
    """The spec with its local dataset's fingerprint and upload size filled in."""
    if not job_spec.dataset.is_local:
        return DesiredJob(job_spec, owner=OWNER)
    path = job_spec.dataset.path
    fingerprint = fingerprint_dataset(path).sha256
    return DesiredJob(job_spec, fingerprint, upload_body(path).size, owner=OWNER)


def upload_for(desired: DesiredJob) -> Upload:
    job_spec = desired.spec
    assert desired.dataset_fingerprint is not None and desired.upload_size is not None
    profile = PROFILES[job_spec.provider]
    marker = profile.dataset_marker(job_spec.name, desired.dataset_fingerprint, desired.owner)
    suffix = job_spec.dataset.path.suffix if job_spec.dataset.kind is DatasetKind.FILE else ""
    remote_name, file_name = profile.upload_names(marker, suffix)
    return Upload(
        path=job_spec.dataset.path,
        size=desired.upload_size,
        fingerprint=desired.dataset_fingerprint,
        remote_name=remote_name,
        file_name=file_name,
    )


def assert_no_secret(text: str, secrets: tuple[str, ...] = SENTINELS) -> None:
    for secret in secrets:
        assert secret not in text, f"secret {secret!r} leaked into: {text}"
    assert "X-Amz-Signature" not in text
    assert "Signature=" not in text


def requests_made(sandbox: RunningSandbox, method: str, path_glob: str) -> int:
    """Requests to paths matching ``path_glob``, counting faulted and refused ones too (the
    route counters miss those: no route was reached)."""
    log = sandbox.control.request_log(5000)
    return sum(
        1 for r in log if r["method"] == method and fnmatch.fnmatchcase(r["path"], path_glob)
    )
