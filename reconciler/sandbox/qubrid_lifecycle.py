"""The life of an emulated Qubrid fine-tuning job, as a pure function of the sandbox clock.

A job is stored once, with the simulated time it was created, and its visible state is derived
whenever it is read: ``queued`` for ``QubridTiming.queued_seconds``, then ``running`` for
``training_seconds`` (its ``training_metrics`` filling in as steps complete), then ``completed``
with a fine-tuned model that is ``deploying`` for ``deploying_seconds`` and then ``available``.
Deriving instead of ticking keeps ten thousand seeded jobs free: nothing runs in the background.

Two stored facts bend the timeline:

- ``head_start``: seconds the job has been pushed ahead of the clock (``advance`` a single job to
  its next phase from the control API), so ``elapsed = now - created_at + head_start``;
- an ending: ``cancelled`` or ``failed`` at a given time. Cancelling discards partial progress
  (Qubrid: "any partial training progress will be discarded"), so a cancelled job shows no
  metrics; a failed job keeps the metrics it had reached.

Documented facts used here: the status enum (queued, running, completed, failed, cancelled), the
TrainingMetrics fields, and the model status enum (available, deploying, deleted). The durations,
the loss curve and the step arithmetic are the sandbox's own inventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ModelStatus(StrEnum):
    DEPLOYING = "deploying"
    AVAILABLE = "available"
    DELETED = "deleted"


ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})

# The sandbox's batch size when it turns dataset rows into training steps.
_ROWS_PER_STEP = 8


@dataclass(frozen=True)
class QubridTiming:
    """Simulated seconds each phase lasts."""

    queued_seconds: float = 5.0
    training_seconds: float = 60.0
    deploying_seconds: float = 5.0

    @property
    def completes_after(self) -> float:
        return self.queued_seconds + self.training_seconds


@dataclass(frozen=True)
class TrainingShape:
    """How much training a job does: fixed at creation from its dataset and hyperparameters."""

    total_steps: int
    steps_per_epoch: int
    epochs: int
    has_validation: bool


@dataclass(frozen=True)
class Ending:
    """A job stopped before completing: by cancel, or failed through the control API."""

    status: JobStatus
    at: float


@dataclass(frozen=True)
class JobView:
    """The derived, visible state of a job at one moment."""

    status: JobStatus
    training_metrics: dict[str, float | int] | None
    completed_at: float | None


def training_shape(
    row_count: int, epochs: int, max_steps: int | None, validation_split: float | None
) -> TrainingShape:
    """Steps per epoch from the training rows; ``max_steps`` caps the total when given."""
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


def elapsed_seconds(created_at: float, head_start: float, now: float) -> float:
    return max(0.0, now - created_at + head_start)


def head_start_for_next_phase(
    created_at: float, head_start: float, now: float, timing: QubridTiming
) -> float:
    """The head start that puts a queued job at the start of running, a running one at completion."""
    elapsed = elapsed_seconds(created_at, head_start, now)
    for boundary in (timing.queued_seconds, timing.completes_after):
        if elapsed < boundary:
            return head_start + (boundary - elapsed)
    return head_start


def view_job(
    *,
    created_at: float,
    head_start: float,
    ending: Ending | None,
    shape: TrainingShape,
    timing: QubridTiming,
    now: float,
) -> JobView:
    """The job's status, metrics and completion time at ``now`` (all in simulated seconds)."""
    completes_at = created_at - head_start + timing.completes_after
    if ending is not None and ending.at < completes_at:
        if ending.status is JobStatus.CANCELLED:
            return JobView(JobStatus.CANCELLED, None, None)
        reached = elapsed_seconds(created_at, head_start, ending.at)
        return JobView(ending.status, _metrics(shape, reached, timing), None)
    elapsed = elapsed_seconds(created_at, head_start, now)
    if elapsed < timing.queued_seconds:
        return JobView(JobStatus.QUEUED, None, None)
    if elapsed < timing.completes_after:
        return JobView(JobStatus.RUNNING, _metrics(shape, elapsed, timing), None)
    return JobView(JobStatus.COMPLETED, _metrics(shape, elapsed, timing), completes_at)


def model_status(
    completed_at: float, deleted: bool, timing: QubridTiming, now: float
) -> ModelStatus:
    if deleted:
        return ModelStatus.DELETED
    if now < completed_at + timing.deploying_seconds:
        return ModelStatus.DEPLOYING
    return ModelStatus.AVAILABLE


def _metrics(
    shape: TrainingShape, elapsed: float, timing: QubridTiming
) -> dict[str, float | int] | None:
    if elapsed < timing.queued_seconds:
        return None
    if timing.training_seconds <= 0:
        fraction = 1.0
    else:
        fraction = min(1.0, (elapsed - timing.queued_seconds) / timing.training_seconds)
    steps = math.floor(fraction * shape.total_steps)
    epochs = min(shape.epochs, steps // shape.steps_per_epoch)
    if fraction >= 1.0:
        epochs = max(epochs, min(shape.epochs, math.ceil(steps / shape.steps_per_epoch)))
    # A smooth, plausible curve: loss falls from about 2.45 towards 0.35 as training proceeds.
    training_loss = round(0.35 + 2.1 * math.exp(-4.0 * fraction), 4)
    metrics: dict[str, float | int] = {
        "training_loss": training_loss,
        "steps_completed": steps,
        "epochs_completed": epochs,
    }
    if shape.has_validation:
        metrics["validation_loss"] = round(training_loss + 0.08, 4)
    return metrics
