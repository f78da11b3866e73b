"""The Cohere emulator's stored state: tables, lifecycles, and reading rows as the API shows them.

Two tables, both with lifecycles computed on read (the framework's ``lifecycle.py``):

- ``cohere_finetuned_models``: STATUS_QUEUED -> STATUS_FINETUNING -> STATUS_DEPLOYING_API ->
  STATUS_READY, or STATUS_FAILED when the control API fails the model. ``settings`` is the
  stored JSON object returned as is.
- ``cohere_datasets``: ``queued`` -> ``processing`` -> ``validated``; a file that fails the
  content check (``dataset_validation.py``) carries its ``validation_error`` from upload
  and shows ``failed`` once processing ends. ``unknown`` is never shown: the SDK's ``wait``
  treats it as a failure.

Datasets older than 30 days are gone, as Cohere deletes them after 30 days: every read here
hides them. Timestamps are shown as ``2024-01-17T20:11:42.907112Z``, the format of the
OpenAPI document's examples.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from reconcile_sandbox.clock import iso_micro
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.lifecycle import LIFECYCLE_COLUMNS, Lifecycle, Stage

MODELS = "finetuned-models"
DATASETS = "datasets"
MODELS_TABLE = "cohere_finetuned_models"
DATASETS_TABLE = "cohere_datasets"

QUEUED_SECONDS = 30.0
FINETUNING_SECONDS = 1200.0
DEPLOYING_SECONDS = 30.0

MODEL_LIFECYCLE = Lifecycle(
    stages=(
        Stage("STATUS_QUEUED", QUEUED_SECONDS),
        Stage("STATUS_FINETUNING", FINETUNING_SECONDS),
        Stage("STATUS_DEPLOYING_API", DEPLOYING_SECONDS),
    ),
    done="STATUS_READY",
    failed="STATUS_FAILED",
)
DATASET_LIFECYCLE = Lifecycle(
    stages=(Stage("queued", 2.0), Stage("processing", 5.0)),
    done="validated",
    failed="failed",
)

DATASET_RETENTION_SECONDS = 30 * 24 * 3600.0

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {MODELS_TABLE} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    settings TEXT NOT NULL,
    {LIFECYCLE_COLUMNS}
);
CREATE INDEX IF NOT EXISTS cohere_finetuned_models_by_created
    ON {MODELS_TABLE} (created_sim, id);
CREATE TABLE IF NOT EXISTS {DATASETS_TABLE} (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    dataset_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    validation_error TEXT,
    outcome TEXT NOT NULL,
    {LIFECYCLE_COLUMNS}
);
CREATE INDEX IF NOT EXISTS cohere_datasets_by_created ON {DATASETS_TABLE} (created_sim, id);
"""

# The sandbox has one user in one organisation.
SANDBOX_USER_ID = "7a317d97-4d05-427d-9396-f31b9fb92c55"
SANDBOX_ORGANIZATION_ID = "6bdca3d5-3eae-4de0-ac34-786d8063b7ee"


def timestamp(sim: float) -> str:
    """A simulated instant as the API shows it."""
    return iso_micro(sim)


def retention_cutoff(ctx: SandboxContext) -> float:
    """Datasets created before this simulated time have been deleted by retention."""
    return ctx.now() - DATASET_RETENTION_SECONDS


def load_model(ctx: SandboxContext, model_id: str) -> sqlite3.Row | None:
    return ctx.store.query_one(
        f"SELECT * FROM {MODELS_TABLE} WHERE id = ?",  # noqa: S608 (constant table name)
        (model_id,),
    )


def load_dataset(ctx: SandboxContext, dataset_id: str) -> sqlite3.Row | None:
    """The dataset row, or None when it does not exist or retention removed it."""
    return ctx.store.query_one(
        f"SELECT * FROM {DATASETS_TABLE} WHERE id = ? AND created_sim >= ?",  # noqa: S608
        (dataset_id, retention_cutoff(ctx)),
    )


def dataset_status(
    ctx: SandboxContext, row: sqlite3.Row | dict[str, Any]
) -> tuple[str, str | None]:
    """``(validation_status, validation_error)`` of a dataset row right now."""
    state = ctx.state(DATASETS, row)
    if state.status == DATASET_LIFECYCLE.done and row["validation_error"]:
        # The content check failed at upload; it shows once processing is over.
        return DATASET_LIFECYCLE.failed, str(row["validation_error"])
    return state.status, state.error_message
