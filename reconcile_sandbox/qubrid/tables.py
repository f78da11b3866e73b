"""The emulated Qubrid API's SQLite tables, their identifiers, and how rows become API objects.

Tables (all prefixed ``qubrid_`` so a reset of the provider clears them):

- ``qubrid_datasets``: one row per uploaded CSV (its metadata; the content is not kept).
- ``qubrid_jobs``: one row per fine-tuning job, with the framework's lifecycle columns. The
  fine-tuned model is part of the job row: its id is chosen at creation (shown once the job
  completes) and ``model_deleted_sim`` records its deletion. A job's dataset may be deleted
  after the job is no longer active; the job keeps its ``dataset_id``.
- ``qubrid_account``: account settings the control API can change (the credit balance).

Lists are newest first: ``created_sim`` descending, then insertion order descending, which is a
stable order even for rows created within the same simulated instant.

Identifier formats are unknown (CONTRACTS.md): the sandbox uses ``ftjob-…``, ``ds-…`` (decimal
numbers shown as JSON integers under the ``ids=integers`` variant, ``readings.py``) and model
ids ``ft-<base model>-<suffix>-<random>`` (Qubrid says the suffix is "appended to the fine-tuned
model name"); every id is safe in a URL path.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any

from reconcile_sandbox.clock import iso_z
from reconcile_sandbox.lifecycle import LIFECYCLE_COLUMNS
from reconcile_sandbox.qubrid.lifecycle import (
    COMPLETED,
    FAILED,
    JOB_LIFECYCLE,
    QUEUED_SECONDS,
    TRAINING_SECONDS,
    TrainingShape,
    model_status,
    training_metrics,
)
from reconcile_sandbox.qubrid.readings import numeric_id, shown_id

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS qubrid_datasets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    columns TEXT NOT NULL,
    created_sim REAL NOT NULL,
    updated_sim REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS qubrid_datasets_by_created ON qubrid_datasets (created_sim);

CREATE TABLE IF NOT EXISTS qubrid_jobs (
    id TEXT PRIMARY KEY,
    base_model TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    task_type TEXT NOT NULL,
    hyperparameters TEXT NOT NULL,
    suffix TEXT,
    fine_tuned_model TEXT NOT NULL UNIQUE,
    total_steps INTEGER NOT NULL,
    steps_per_epoch INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    has_validation INTEGER NOT NULL,
    model_deleted_sim REAL,
    {LIFECYCLE_COLUMNS}
);
CREATE INDEX IF NOT EXISTS qubrid_jobs_by_created ON qubrid_jobs (created_sim);
CREATE INDEX IF NOT EXISTS qubrid_jobs_by_dataset ON qubrid_jobs (dataset_id);

CREATE TABLE IF NOT EXISTS qubrid_account (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

NEWEST_FIRST = "ORDER BY created_sim DESC, rowid DESC"

INSERT_DATASET = (
    "INSERT INTO qubrid_datasets (id, name, size_bytes, row_count, columns, created_sim, "
    "updated_sim) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

INSERT_JOB = (
    "INSERT INTO qubrid_jobs (id, base_model, dataset_id, task_type, hyperparameters, suffix, "
    "fine_tuned_model, total_steps, steps_per_epoch, epochs, has_validation, created_sim, "
    "updated_sim, progress_offset, failed_sim, error_message, final_status, final_sim) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

Row = sqlite3.Row | Mapping[str, Any]

_UNSAFE_IN_ID = re.compile(r"[^a-z0-9._-]+")


def new_job_id(*, numeric: bool = False) -> str:
    """``ftjob-…``, or a decimal number under ``ids=integers`` (``readings.py``)."""
    return numeric_id() if numeric else f"ftjob-{uuid.uuid4().hex[:24]}"


def new_dataset_id(*, numeric: bool = False) -> str:
    """``ds-…``, or a decimal number under ``ids=integers`` (``readings.py``)."""
    return numeric_id() if numeric else f"ds-{uuid.uuid4().hex[:24]}"


def new_model_id(base_model: str, suffix: str | None, *, unique: str | None = None) -> str:
    """``ft-<base model>-<suffix>-<unique>``; ``unique`` defaults to 10 random hex digits."""
    parts = [
        model_name_slug(base_model),
        path_safe_slug(suffix or ""),
        unique or uuid.uuid4().hex[:10],
    ]
    return "ft-" + "-".join(part for part in parts if part)


def model_name_slug(base_model: str) -> str:
    """The last path segment of a base model id, lower-cased and safe in a URL path."""
    return path_safe_slug(base_model.rsplit("/", 1)[-1])


def path_safe_slug(text: str) -> str:
    """``text`` lower-cased with every run of characters unsafe in an id replaced by ``-``."""
    return _UNSAFE_IN_ID.sub("-", text.lower()).strip("-.")


def completed_job_filter(now: float) -> tuple[str, tuple[float, ...]]:
    """SQL narrowing jobs to those whose lifecycle has reached ``completed`` by ``now``.

    A prefilter only (failure and stop times are checked again on the rows it returns).
    """
    return (
        "final_status IS NULL AND (failed_sim IS NULL OR failed_sim > ?) "
        "AND created_sim - progress_offset <= ?",
        (now, now - (QUEUED_SECONDS + TRAINING_SECONDS)),
    )


def shape_of(row: Row) -> TrainingShape:
    return TrainingShape(
        total_steps=int(row["total_steps"]),
        steps_per_epoch=int(row["steps_per_epoch"]),
        epochs=int(row["epochs"]),
        has_validation=bool(row["has_validation"]),
    )


def job_json(row: Row, now: float, *, integers: bool = False) -> dict[str, Any]:
    """A ``FineTuningJob``. No name or suffix: Qubrid's job object has neither. ``integers``:
    ids shown as JSON integers (``ids=integers``)."""
    state = JOB_LIFECYCLE.state(row, now)
    job: dict[str, Any] = {
        "id": shown_id(row["id"], integers),
        "status": state.status,
        "base_model": row["base_model"],
        "dataset_id": shown_id(row["dataset_id"], integers),
        "task_type": row["task_type"],
        "hyperparameters": json.loads(row["hyperparameters"]),
        "created_at": iso_z(float(row["created_sim"])),
    }
    metrics = training_metrics(row, state, shape_of(row), now)
    if metrics is not None:
        job["training_metrics"] = metrics
    if state.status == COMPLETED:
        job["fine_tuned_model"] = row["fine_tuned_model"]
        job["completed_at"] = iso_z(state.since)
    if state.status == FAILED:
        # Not in Qubrid's document (which has no error field on jobs): the sandbox shows why a
        # job failed in the ErrorResponse's inner shape. Clients must treat it as optional.
        job["error"] = {
            "message": state.error_message or "Training failed.",
            "type": "training_error",
            "code": "training_failed",
        }
    return job


def dataset_json(row: Row, *, integers: bool = False) -> dict[str, Any]:
    return {
        "id": shown_id(row["id"], integers),
        "name": row["name"],
        "size_bytes": int(row["size_bytes"]),
        "row_count": int(row["row_count"]),
        "columns": json.loads(row["columns"]),
        "created_at": iso_z(float(row["created_sim"])),
    }


def model_json(
    row: Row, completed_at: float, now: float, *, integers: bool = False
) -> dict[str, Any]:
    deleted = row["model_deleted_sim"] is not None
    return {
        "id": row["fine_tuned_model"],
        "base_model": row["base_model"],
        "job_id": shown_id(row["id"], integers),
        "status": model_status(completed_at, deleted, now),
        "created_at": iso_z(completed_at),
    }
