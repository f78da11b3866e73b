"""Bulk-creating existing Qubrid jobs (each with its own dataset) for scale tests and benchmarks.

Called by ``POST /_sandbox/qubrid/seed {"count": N, "options": {...}}``. Options:

- ``prefix`` (default ``"seed"``): dataset names are ``<prefix>-<index>.csv`` (index zero-padded
  to five digits), job suffixes ``<prefix>-<index>``;
- ``status`` (default ``"mixed"``): every job in this status (``queued``, ``running``,
  ``completed``, ``failed``, ``cancelled``), or ``mixed``: of every 20 jobs one is running, one
  queued, one failed, one cancelled, and sixteen completed (with available models);
- ``base_model`` (default ``Qwen/Qwen3-Coder-30B-A3B-Instruct``);
- ``age_seconds`` (default 86400, at least 690): how long ago the newest seeded job was created;
  each further index is ``spacing_seconds`` (default 60) older. Index 0 is the newest.

Active jobs are placed on their lifecycle with a progress offset, so they go on to complete as
the clock advances, like any other job. Seeded rows count as old for the list-lag fault.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.qubrid.lifecycle import (
    CANCELLED,
    COMPLETED,
    DEPLOYING_SECONDS,
    FAILED,
    QUEUED,
    QUEUED_SECONDS,
    RUNNING,
    TRAINING_SECONDS,
    training_shape,
)
from reconcile_sandbox.qubrid.readings import integer_ids
from reconcile_sandbox.qubrid.requests import DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE
from reconcile_sandbox.qubrid.tables import INSERT_DATASET, INSERT_JOB, new_model_id

SEED_STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
MIXED = "mixed"
DEFAULT_BASE_MODEL = "Qwen/Qwen3-Coder-30B-A3B-Instruct"
MIN_AGE_SECONDS = QUEUED_SECONDS + TRAINING_SECONDS + DEPLOYING_SECONDS
SEEDED_FAILURE = "Training stopped: the loss became NaN at step 12 (seeded failure)."

_MIXED_PATTERN = (RUNNING, QUEUED, FAILED, CANCELLED) + (COMPLETED,) * 16
_COLUMNS_BY_TASK = {"qa": ["question", "answer"], "not_qa": ["text"]}


def seed_jobs(ctx: SandboxContext, count: int, options: Mapping[str, Any]) -> int:
    """Insert ``count`` jobs and their datasets in two bulk statements; returns ``count``."""
    unknown = sorted(
        set(options) - {"prefix", "status", "base_model", "age_seconds", "spacing_seconds"}
    )
    if unknown:
        raise ValueError(
            f"unknown seed option(s) {', '.join(unknown)}; known: prefix, status, base_model, "
            "age_seconds, spacing_seconds"
        )
    prefix = _text_option(options, "prefix", "seed")
    base_model = _text_option(options, "base_model", DEFAULT_BASE_MODEL)
    status = _text_option(options, "status", MIXED)
    if status != MIXED and status not in SEED_STATUSES:
        raise ValueError(
            f"'status' must be {MIXED} or one of {', '.join(SEED_STATUSES)}; got {status!r}"
        )
    age = _number_option(options, "age_seconds", 86400.0, MIN_AGE_SECONDS)
    spacing = _number_option(options, "spacing_seconds", 60.0, 0.0)
    now = ctx.now()
    numeric = integer_ids(ctx)
    seeded = list(_seeded_jobs(count, status, prefix, base_model, now, age, spacing, numeric))
    ctx.store.executemany(INSERT_DATASET, (dataset for dataset, _ in seeded))
    ctx.store.executemany(INSERT_JOB, (job for _, job in seeded))
    return count


def _seeded_jobs(
    count: int,
    status: str,
    prefix: str,
    base_model: str,
    now: float,
    age: float,
    spacing: float,
    numeric: bool,
) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    # Ids are a random run prefix plus the index: unique across seed calls, and far cheaper than
    # three random UUIDs per job when seeding tens of thousands.
    run = uuid.uuid4().hex[:12]
    # ids=integers: decimal ids, a random run number then the index (the job's one odd, so
    # that a job id never equals a dataset id).
    number = (uuid.uuid4().int % 10**6 + 1) * 10**9
    hyperparameters = json.dumps({"epochs": DEFAULT_EPOCHS, "learning_rate": DEFAULT_LEARNING_RATE})
    columns_json = {task: json.dumps(columns) for task, columns in _COLUMNS_BY_TASK.items()}
    shapes: dict[int, tuple[int, int, int, int]] = {}
    for index in range(count):
        label = f"{prefix}-{index:05d}"
        task_type = "qa" if index % 2 == 0 else "not_qa"
        row_count = 100 + (index * 37) % 900
        if row_count not in shapes:
            shapes[row_count] = _shape_columns(row_count)
        created = now - age - index * spacing
        dataset_id = str(number + 2 * index) if numeric else f"ds-{run}{index:012x}"
        job_status = status if status != MIXED else _MIXED_PATTERN[index % 20]
        yield (
            (
                dataset_id,
                f"{label}.csv",
                row_count * 64,
                row_count,
                columns_json[task_type],
                created,
                created,
            ),
            (
                str(number + 2 * index + 1) if numeric else f"ftjob-{run}{index:012x}",
                base_model,
                dataset_id,
                task_type,
                hyperparameters,
                label,
                new_model_id(base_model, label, unique=run[:10]),
                *shapes[row_count],
                created,
                created,
                *_lifecycle_columns(job_status, created, now - created),
            ),
        )


def _shape_columns(row_count: int) -> tuple[int, int, int, int]:
    shape = training_shape(row_count, DEFAULT_EPOCHS, None, None)
    return (shape.total_steps, shape.steps_per_epoch, shape.epochs, int(shape.has_validation))


def _lifecycle_columns(
    status: str, created: float, real_age: float
) -> tuple[float, float | None, str | None, str | None, float | None]:
    """(progress_offset, failed_sim, error_message, final_status, final_sim) for ``status``."""
    if status == QUEUED:
        return (QUEUED_SECONDS / 2 - real_age, None, None, None, None)
    if status == RUNNING:
        return (QUEUED_SECONDS + TRAINING_SECONDS / 2 - real_age, None, None, None, None)
    if status == FAILED:
        failed_at = created + QUEUED_SECONDS + TRAINING_SECONDS * 0.3
        return (0.0, failed_at, SEEDED_FAILURE, None, None)
    if status == CANCELLED:
        return (0.0, None, None, CANCELLED, created + QUEUED_SECONDS + TRAINING_SECONDS * 0.1)
    return (0.0, None, None, None, None)


def _text_option(options: Mapping[str, Any], name: str, default: str) -> str:
    value = options.get(name, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"'{name}' must be a non-empty string; got {value!r}")
    return value


def _number_option(options: Mapping[str, Any], name: str, default: float, minimum: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"'{name}' must be a number of at least {minimum:g}; got {value!r}")
    return float(value)
