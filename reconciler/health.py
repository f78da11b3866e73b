"""Provider status -> ``Health``: one small function per provider.

Each provider documents (part of) its status vocabulary (CONTRACTS.md §A5, §B, §C2); a status
this version does not know maps to ``Unknown`` and never raises, because providers add values
without notice. Matching ignores case and surrounding space. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core.observed import Health
from reconciler.core.spec import Provider

# Segmind's full enum is not documented; these are the values seen in its docs and webhooks.
_SEGMIND: Mapping[str, Health] = {
    "REQUESTED": Health.PENDING,
    "QUEUED": Health.PENDING,
    "DATA_PROCESSING": Health.PROGRESSING,
    "TRAINING_INITIATED": Health.PROGRESSING,
    "TRAINING_COMPLETED": Health.PROGRESSING,
    "RETRIED": Health.PROGRESSING,
    "DEPLOYING": Health.PROGRESSING,
    "INFERENCE_QUEUED": Health.PROGRESSING,
    "AVAILABLE": Health.HEALTHY,
    "FAILED": Health.DEGRADED,
}

# Qubrid cancels a job as its form of deletion; a cancelled job trained nothing and counts as
# gone, like a deleted one.
_QUBRID_JOB: Mapping[str, Health] = {
    "queued": Health.PENDING,
    "running": Health.PROGRESSING,
    "completed": Health.HEALTHY,
    "failed": Health.DEGRADED,
    "cancelled": Health.MISSING,
}

_QUBRID_MODEL: Mapping[str, Health] = {
    "available": Health.HEALTHY,
    "deploying": Health.PROGRESSING,
    "deleted": Health.MISSING,
}

_COHERE: Mapping[str, Health] = {
    "QUEUED": Health.PENDING,
    "PAUSED": Health.PENDING,  # deprecated: training waits to be resumed
    "FINETUNING": Health.PROGRESSING,
    "DEPLOYING_API": Health.PROGRESSING,  # deprecated
    "READY": Health.HEALTHY,
    "FAILED": Health.DEGRADED,
    "TEMPORARILY_OFFLINE": Health.DEGRADED,  # deprecated: trained but not serving
    "DELETED": Health.MISSING,
}


def segmind_health(status: str | None) -> Health:
    """Health of a Segmind job from its ``status`` (REQUESTED ... AVAILABLE, FAILED)."""
    return _SEGMIND.get((status or "").strip().upper(), Health.UNKNOWN)


def qubrid_health(status: str | None, model_status: str | None = None) -> Health:
    """Health of a Qubrid job from its ``status``, refined by its fine-tuned model's status
    (from the models list) once the job has completed: a deleted model is a deleted job."""
    job_health = _QUBRID_JOB.get((status or "").strip().lower(), Health.UNKNOWN)
    if job_health is not Health.HEALTHY or model_status is None:
        return job_health
    return _QUBRID_MODEL.get(model_status.strip().lower(), Health.UNKNOWN)


def cohere_health(status: str | None) -> Health:
    """Health of a Cohere fine-tuned model from its ``status`` (``STATUS_READY`` etc.)."""
    normalised = (status or "").strip().upper().removeprefix("STATUS_")
    return _COHERE.get(normalised, Health.UNKNOWN)


def health_of(provider: Provider, status: str | None, model_status: str | None = None) -> Health:
    """Dispatch to the provider's function; ``model_status`` matters for Qubrid only."""
    if provider == "segmind":
        return segmind_health(status)
    if provider == "qubrid":
        return qubrid_health(status, model_status)
    return cohere_health(status)
