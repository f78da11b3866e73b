"""How an emulated Qubrid job progresses: statuses, training metrics and the fine-tuned model.

The status walk is the framework's lifecycle (computed on read from the row and the sandbox
clock): ``queued`` for ``QUEUED_SECONDS``, ``running`` for ``TRAINING_SECONDS``, then
``completed``; ``failed`` when the control API fails the job, ``cancelled`` when a client cancels
it. While running, ``training_metrics`` fill in with the fraction of training time elapsed; a
failed job keeps the metrics it had reached; a cancelled one shows none (Qubrid: "any partial
training progress will be discarded").

A completed job's fine-tuned model is ``deploying`` for ``DEPLOYING_SECONDS`` after completion,
then ``available``, and ``deleted`` once deleted. The enums and metric names are Qubrid's; the
durations, the step arithmetic and the loss curve are the sandbox's own.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconcile_sandbox.lifecycle import JobState, Lifecycle, Stage

QUEUED_SECONDS = 30.0
TRAINING_SECONDS = 600.0
DEPLOYING_SECONDS = 60.0

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
ACTIVE_STATUSES = frozenset({QUEUED, RUNNING})

MODEL_DEPLOYING = "deploying"
MODEL_AVAILABLE = "available"
MODEL_DELETED = "deleted"

JOB_LIFECYCLE = Lifecycle(
    stages=(Stage(QUEUED, QUEUED_SECONDS), Stage(RUNNING, TRAINING_SECONDS)),
    done=COMPLETED,
    failed=FAILED,
)

# The sandbox's batch size when it turns dataset rows into training steps.
_ROWS_PER_STEP = 8

Row = sqlite3.Row | Mapping[str, Any]


@dataclass(frozen=True)
class TrainingShape:
    """How much training a job does, fixed at creation from its dataset and hyperparameters."""

    total_steps: int
    steps_per_epoch: int
    epochs: int
    has_validation: bool


def training_shape(
    row_count: int, epochs: int, max_steps: int | None, validation_split: float | None
) -> TrainingShape:
    """Steps per epoch follow from the training rows; ``max_steps`` caps the total when given."""
    validation = validation_split or 0.0
    training_rows = max(1, math.floor(row_count * (1.0 - validation)))
    steps_per_epoch = max(1, math.ceil(training_rows / _ROWS_PER_STEP))
    total = epochs * steps_per_epoch
    if max_steps is not None:
        total = min(total, max_steps)
    return TrainingShape(
        total_steps=max(1, total),
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
        has_validation=validation > 0.0,
    )


def training_metrics(
    row: Row, state: JobState, shape: TrainingShape, now: float
) -> dict[str, float | int] | None:
    """The job's ``training_metrics`` at ``now``, or ``None`` while none are shown."""
    if state.status == CANCELLED or not state.reached(RUNNING):
        return None
    if state.status == COMPLETED:
        fraction = 1.0
    else:
        age = _age_when_progress_stopped(row, now)
        fraction = min(1.0, max(0.0, (age - QUEUED_SECONDS) / TRAINING_SECONDS))
    steps = math.floor(fraction * shape.total_steps)
    epochs = min(shape.epochs, steps // shape.steps_per_epoch)
    if fraction >= 1.0:
        # A run capped by max_steps ends inside an epoch; that epoch counts as reached.
        epochs = min(shape.epochs, max(epochs, math.ceil(steps / shape.steps_per_epoch)))
    # A smooth, plausible curve: the loss falls from about 2.45 towards 0.35.
    training_loss = round(0.35 + 2.1 * math.exp(-4.0 * fraction), 4)
    metrics: dict[str, float | int] = {
        "training_loss": training_loss,
        "steps_completed": steps,
        "epochs_completed": epochs,
    }
    if shape.has_validation:
        metrics["validation_loss"] = round(training_loss + 0.08, 4)
    return metrics


def model_status(completed_at: float, deleted: bool, now: float) -> str:
    if deleted:
        return MODEL_DELETED
    if now < completed_at + DEPLOYING_SECONDS:
        return MODEL_DEPLOYING
    return MODEL_AVAILABLE


def _age_when_progress_stopped(row: Row, now: float) -> float:
    """The job's age on the lifecycle clock, frozen when it failed or was stopped."""
    stop_at = now
    failed_at = row["failed_sim"]
    if failed_at is not None and float(failed_at) <= now:
        stop_at = min(stop_at, float(failed_at))
    if row["final_status"] is not None and row["final_sim"] is not None:
        stop_at = min(stop_at, float(row["final_sim"]))
    return max(0.0, stop_at - float(row["created_sim"]) + float(row["progress_offset"]))
