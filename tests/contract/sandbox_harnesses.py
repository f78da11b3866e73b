"""The harnesses of the three real providers: each drives its adapter, built from the
environment as the command line builds it (``registry.build_client``), against the sandbox's
emulation of its API over real HTTP.

The sandbox is the plugin's shared one (reset before each test, its clock frozen): a job's
status moves only when the harness moves it (``finish``). Retries wait a few milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import httpx

from reconcile_sandbox.cohere.tables import MODEL_LIFECYCLE
from reconcile_sandbox.qubrid.lifecycle import CANCELLED, DEPLOYING_SECONDS, JOB_LIFECYCLE
from reconcile_sandbox.segmind.api import LIFECYCLE as SEGMIND_LIFECYCLE
from reconcile_sandbox.testing import RunningSandbox
from reconciler.config import load_settings
from reconciler.core.spec import DesiredJob
from reconciler.providers.base import ProviderClient
from reconciler.providers.cohere.profile import CHAT, COHERE
from reconciler.providers.profile import ProviderProfile
from reconciler.providers.qubrid.profile import QUBRID
from reconciler.providers.registry import build_client
from reconciler.providers.segmind.profile import SEGMIND
from tests.contract.harness import FixtureLookup, Harness
from tests.contract.readings import Reading, readings_of
from tests.support.cohere import ValidationClock
from tests.support.providers import (
    RecordingSleep,
    chat_jsonl,
    desired_for,
    fast_policy,
    image_folder,
    qa_csv,
    spec,
)
from tests.support.repos import mark_repository


class SandboxHarness(Harness):
    """A real provider's harness: its client built from an environment aimed at the sandbox
    (``reconciler.yaml`` at ``root`` sets the owner and a quick Cohere validation poll)."""

    def __init__(self, root: Path, sandbox: RunningSandbox) -> None:
        super().__init__(mark_repository(root, owner=self.owner))
        self.sandbox = sandbox
        self.data = root / "data"
        self.data.mkdir()

    @classmethod
    def start(cls, fixture: FixtureLookup, root: Path) -> Harness:
        return cls(root, fixture("sandbox"))

    # Other readings run together as well as alone: where two open questions meet (none here).
    together: ClassVar[tuple[tuple[tuple[str, str], ...], ...]] = ()

    @classmethod
    def readings(cls) -> tuple[Reading, ...]:
        """The defaults, then each other value of each variant the sandbox's emulation of
        the provider declares, one at a time, then the sets in ``together``."""
        return readings_of(cls.profile.name, cls.together)

    def take(self, reading: Reading) -> None:
        # The sandbox fixture reset the provider (its defaults) before the test; the variant
        # set here lasts until the next test's reset.
        super().take(reading)
        if reading.variants():
            self.sandbox.control.set_variants(**reading.variants())

    def _environment(self, key: str | None) -> dict[str, str]:
        """The sandbox's exports, with ``key`` as the provider's only key when given."""
        environ = self.sandbox.env()
        if key is not None:
            for variable in self.profile.key_variables:
                environ.pop(variable, None)
            environ[self.profile.key_variables[0]] = key
        return environ

    def _transport(self) -> httpx.BaseTransport | None:
        return None

    def _build_client(self, key: str | None) -> ProviderClient:
        settings = load_settings(self.root, self._environment(key))
        return build_client(
            self.profile.name,
            settings,
            transport=self._transport(),
            retry=fast_policy(RecordingSleep()),
        )


class SegmindHarness(SandboxHarness):
    profile: ClassVar[ProviderProfile[Any]] = SEGMIND
    # CONTRACTS.md §A5 (Segmind's full enum is not documented).
    documented_statuses = tuple(
        (status, None)
        for status in (
            "REQUESTED",
            "QUEUED",
            "DATA_PROCESSING",
            "TRAINING_INITIATED",
            "TRAINING_COMPLETED",
            "RETRIED",
            "INFERENCE_QUEUED",
            "DEPLOYING",
            "AVAILABLE",
            "FAILED",
        )
    )
    reported_statuses = (*SEGMIND_LIFECYCLE.statuses, SEGMIND_LIFECYCLE.failed)
    # The readings that meet: an old job listed first beside a new one of the same name, known
    # by a finetune_id apart from its id, uploaded with the ACL header its URL was signed for.
    together = ((("order", "oldest-first"), ("flux_ids", "distinct"), ("acl_header", "signed")),)

    def desired(self, name: str, **fields: Any) -> DesiredJob:
        written: dict[str, Any] = {
            "trigger_word": "TOK",
            "instance_prompt": "photo of TOK, a plush fox mascot",
            "theme": "CHARACTER",
            "access": "private",
            "parameters": {"iterations": 300, "finetune_type": "LORA", "lora_rank": 16},
        }
        written.update(fields)
        folder = image_folder(self.data, name)
        return desired_for(spec("segmind", name, folder, base_model="FLUX_PRO", **written))

    def finish(self, job_id: str) -> None:
        # The client knows a Flux job by its finetune_id, the sandbox's row by its id.
        row = self.sandbox.sandbox.store.query_one(
            "SELECT id FROM segmind_jobs WHERE id = ? OR finetune_id = ?", (job_id, job_id)
        )
        assert row is not None, job_id
        self.sandbox.control.advance("segmind", "jobs", row["id"], to=SEGMIND_LIFECYCLE.done)

    @staticmethod
    def stored_dataset_ref(remote_name: str, file_name: str) -> str:
        # CONTRACTS.md §A: an upload is stored at uploads/<user>/<file id>-<file name>, and a
        # job's data_source_path is that object's URL.
        return (
            "https://segmind-finetune.s3.amazonaws.com/uploads/8c1f0a3e/"
            f"5f0e8c1a-93d4-4b7e-a1f2-0c9d8e7f6a5b-{file_name}"
        )


class QubridHarness(SandboxHarness):
    profile: ClassVar[ProviderProfile[Any]] = QUBRID
    # CONTRACTS.md §B: a job's statuses, and a completed job's model's (its models list).
    documented_statuses = (
        ("queued", None),
        ("running", None),
        ("failed", None),
        ("cancelled", None),
        ("completed", None),
        ("completed", "deploying"),
        ("completed", "available"),
        ("completed", "deleted"),
    )
    reported_statuses = (*JOB_LIFECYCLE.statuses, JOB_LIFECYCLE.failed, CANCELLED)

    def desired(self, name: str, **fields: Any) -> DesiredJob:
        written: dict[str, Any] = {
            "task_type": "qa",
            "parameters": {"epochs": 2, "learning_rate": 0.0001},
        }
        written.update(fields)
        csv = qa_csv(self.data, name=f"{name}.csv")
        return desired_for(
            spec("qubrid", name, csv, base_model="Qwen/Qwen3-Coder-30B-A3B-Instruct", **written)
        )

    def finish(self, job_id: str) -> None:
        self.sandbox.control.advance("qubrid", "jobs", job_id, to=JOB_LIFECYCLE.done)
        # Its model deploys after the job completes.
        self.sandbox.control.advance_clock(DEPLOYING_SECONDS + 1)

    @staticmethod
    def stored_dataset_ref(remote_name: str, file_name: str) -> None:
        # A job names its dataset by an id that carries nothing (CONTRACTS.md §B).
        return None


class CohereHarness(SandboxHarness):
    profile: ClassVar[ProviderProfile[Any]] = COHERE
    # CONTRACTS.md §C; STATUS_UNSPECIFIED is left out: it says nothing, and Unknown is right.
    documented_statuses = tuple(
        (status, None)
        for status in (
            "STATUS_QUEUED",
            "STATUS_FINETUNING",
            "STATUS_DEPLOYING_API",
            "STATUS_READY",
            "STATUS_FAILED",
            "STATUS_DELETED",
            "STATUS_TEMPORARILY_OFFLINE",
            "STATUS_PAUSED",
        )
    )
    reported_statuses = (*MODEL_LIFECYCLE.statuses, MODEL_LIFECYCLE.failed)

    def desired(self, name: str, **fields: Any) -> DesiredJob:
        written: dict[str, Any] = {
            "base_type": "BASE_TYPE_CHAT",
            "dataset_type": CHAT,
            "parameters": {"train_epochs": 2, "learning_rate": 0.01, "lora_rank": 8},
        }
        written.update(fields)
        jsonl = chat_jsonl(self.data, name=f"{name}.jsonl")
        return desired_for(spec("cohere", name, jsonl, base_model="command-r", **written))

    def _transport(self) -> httpx.BaseTransport:
        return ValidationClock(self.sandbox)

    def finish(self, job_id: str) -> None:
        self.sandbox.control.advance("cohere", "finetuned-models", job_id, to=MODEL_LIFECYCLE.done)

    @staticmethod
    def stored_dataset_ref(remote_name: str, file_name: str) -> None:
        # CONTRACTS.md §C gives no form for a dataset id (the examples' slug is one reading, a
        # UUID another): the names are read from the dataset list.
        return None
