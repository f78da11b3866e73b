"""Validation of requests to the emulated Qubrid API, answered as Qubrid's 400 ErrorResponse.

Rules come from the OpenAPI document (``CreateFineTuningJobRequest``, ``Hyperparameters``,
``PageLimit``/``PageOffset``, ``UploadDatasetRequest``): required fields, the ``task_type`` enum,
hyperparameter ranges, ``suffix`` at most 64 characters, ``limit`` 1–100, ``offset`` >= 0 and a
dataset ``name`` at most 256 characters. Fields the document does not list are ignored, as its
schemas do not forbid them. Each message names the field and says what is expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconcile_sandbox.provider import ProviderError

TASK_TYPES = ("qa", "not_qa")
MAX_SUFFIX_LENGTH = 64
MAX_DATASET_NAME_LENGTH = 256
DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 100

# Qubrid documents no defaults; the sandbox fills these in so that clients meet a provider that
# adds fields a spec did not set (which must not count as drift).
DEFAULT_EPOCHS = 3
DEFAULT_LEARNING_RATE = 0.0002


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int
    learning_rate: float
    max_steps: int | None
    validation_split: float | None

    def to_json(self) -> dict[str, int | float]:
        shown: dict[str, int | float] = {
            "epochs": self.epochs,
            "learning_rate": self.learning_rate,
        }
        if self.max_steps is not None:
            shown["max_steps"] = self.max_steps
        if self.validation_split is not None:
            shown["validation_split"] = self.validation_split
        return shown


@dataclass(frozen=True)
class JobRequest:
    """A valid ``CreateFineTuningJobRequest``."""

    base_model: str
    dataset_id: str
    task_type: str
    hyperparameters: Hyperparameters
    suffix: str | None


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def invalid(message: str, code: str = "invalid_request") -> ProviderError:
    return ProviderError(400, message, code)


def parse_job_request(body: Mapping[str, Any]) -> JobRequest:
    """Check a create-job body (CreateFineTuningJobRequest); a 400 on the first fault."""
    base_model = _required_string(body, "base_model")
    dataset_id = _required_string(body, "dataset_id")
    task_type = _required_string(body, "task_type")
    if task_type not in TASK_TYPES:
        raise invalid(
            f"'task_type' must be one of {', '.join(TASK_TYPES)}; got {task_type!r}.",
            "invalid_task_type",
        )
    raw_hyperparameters = body.get("hyperparameters")
    if raw_hyperparameters is None:
        raw_hyperparameters = {}
    if not isinstance(raw_hyperparameters, dict):
        raise invalid("'hyperparameters' must be an object.", "invalid_hyperparameters")
    suffix = body.get("suffix")
    if suffix is not None:
        if not isinstance(suffix, str):
            raise invalid("'suffix' must be a string.", "invalid_suffix")
        if len(suffix) > MAX_SUFFIX_LENGTH:
            raise invalid(
                f"'suffix' must be at most {MAX_SUFFIX_LENGTH} characters; got {len(suffix)}.",
                "invalid_suffix",
            )
    return JobRequest(
        base_model=base_model,
        dataset_id=dataset_id,
        task_type=task_type,
        hyperparameters=_hyperparameters(raw_hyperparameters),
        suffix=suffix,
    )


def parse_page(query: Mapping[str, str]) -> Page:
    """``limit`` (1–100, default 20) and ``offset`` (>= 0, default 0) from the query string."""
    limit = _query_integer(query, "limit", DEFAULT_PAGE_LIMIT)
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise invalid(
            f"'limit' must be between 1 and {MAX_PAGE_LIMIT}; got {limit}.", "invalid_limit"
        )
    offset = _query_integer(query, "offset", 0)
    if offset < 0:
        raise invalid(f"'offset' must be 0 or more; got {offset}.", "invalid_offset")
    return Page(limit=limit, offset=offset)


def check_dataset_name(name: str) -> None:
    if len(name) > MAX_DATASET_NAME_LENGTH:
        raise invalid(
            f"'name' must be at most {MAX_DATASET_NAME_LENGTH} characters; got {len(name)}.",
            "invalid_name",
        )


def _required_string(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if value is None:
        raise invalid(f"'{field}' is required.", "missing_required_field")
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"'{field}' must be a non-empty string; got {value!r}.", "invalid_value")
    return value


def _hyperparameters(raw: Mapping[str, Any]) -> Hyperparameters:
    epochs = _optional_integer(raw, "epochs")
    max_steps = _optional_integer(raw, "max_steps")
    learning_rate = _optional_number(raw, "learning_rate")
    if learning_rate is not None and learning_rate <= 0:
        raise invalid(
            f"'hyperparameters.learning_rate' must be greater than 0; got {learning_rate}.",
            "invalid_hyperparameters",
        )
    validation_split = _optional_number(raw, "validation_split")
    if validation_split is not None and not 0 <= validation_split <= 1:
        raise invalid(
            f"'hyperparameters.validation_split' must be between 0 and 1; got {validation_split}.",
            "invalid_hyperparameters",
        )
    return Hyperparameters(
        epochs=DEFAULT_EPOCHS if epochs is None else epochs,
        learning_rate=DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate,
        max_steps=max_steps,
        validation_split=validation_split,
    )


def _optional_integer(raw: Mapping[str, Any], field: str) -> int | None:
    value = raw.get(field)
    if value is None:
        return None
    # JSON has one number type: 3.0 is an integer in JSON Schema, true is not.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(
            f"'hyperparameters.{field}' must be an integer of at least 1; got {value!r}.",
            "invalid_hyperparameters",
        )
    return value


def _optional_number(raw: Mapping[str, Any], field: str) -> float | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(
            f"'hyperparameters.{field}' must be a number; got {value!r}.",
            "invalid_hyperparameters",
        )
    return float(value)


def _query_integer(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        raise invalid(f"'{name}' must be an integer; got {text!r}.", f"invalid_{name}") from None
