"""Validation of the JSON bodies the emulated Cohere fine-tuning API accepts.

``POST /v1/finetuning/finetuned-models`` takes a ``FinetunedModel`` (``name`` and ``settings``
required); ``PATCH .../{id}`` takes ``name`` and optionally ``settings`` (the SDK sends both, the
documented curl example only ``name``). Both are checked here against the OpenAPI document's
schemas and the hyperparameter ranges of Cohere's chat fine-tuning guide (CONTRACTS.md §C2), and
turned into the stored ``settings`` object with the documented defaults filled in.

An empty ``settings.base_model.name`` is refused (the field is optional: left out, not empty).
Read-only fields (``id``, ``status``, timestamps, ``settings.multi_label``,
``settings.base_model.version``) are ignored, so a client may send back what it read. Fields
the document does not define are refused, as the provider's protobuf JSON decoding does: a typo
in a hyperparameter name must not be silently dropped. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BASE_TYPES = frozenset(
    {
        "BASE_TYPE_UNSPECIFIED",
        "BASE_TYPE_GENERATIVE",
        "BASE_TYPE_CLASSIFICATION",
        "BASE_TYPE_RERANK",
        "BASE_TYPE_CHAT",
    }
)
STRATEGIES = frozenset({"STRATEGY_UNSPECIFIED", "STRATEGY_VANILLA", "STRATEGY_TFEW"})
LORA_TARGET_MODULES = frozenset(
    {
        "LORA_TARGET_MODULES_UNSPECIFIED",
        "LORA_TARGET_MODULES_QV",
        "LORA_TARGET_MODULES_QKVO",
        "LORA_TARGET_MODULES_QKVO_FFN",
    }
)
RERANK_BASE_MODEL_NAMES = frozenset({"english", "multilingual"})

# The dataset types each base type trains on.
DATASET_TYPES_BY_BASE_TYPE: Mapping[str, frozenset[str]] = {
    "BASE_TYPE_CHAT": frozenset({"chat-finetune-input"}),
    "BASE_TYPE_CLASSIFICATION": frozenset(
        {
            "single-label-classification-finetune-input",
            "multi-label-classification-finetune-input",
        }
    ),
    "BASE_TYPE_RERANK": frozenset({"reranker-finetune-input"}),
}

# The version the sandbox reports for each base model (read-only, filled in by the service).
BASE_MODEL_VERSIONS: Mapping[str, str] = {
    "BASE_TYPE_CHAT": "14.2.0",
    "BASE_TYPE_CLASSIFICATION": "1.0.0",
    "BASE_TYPE_RERANK": "2.0.0",
}


@dataclass(frozen=True)
class IntegerRange:
    low: int
    high: int
    default: int | None


@dataclass(frozen=True)
class NumberRange:
    low: float
    high: float
    default: float | None


# Chat fine-tuning hyperparameters: ranges and defaults from Cohere's guide. The LoRA ranks have
# no documented range; they only have to be positive.
CHAT_HYPERPARAMETERS: Mapping[str, IntegerRange | NumberRange] = {
    "train_epochs": IntegerRange(1, 10, 1),
    "learning_rate": NumberRange(0.00005, 0.1, 0.01),
    "train_batch_size": IntegerRange(2, 16, 16),
    "early_stopping_threshold": NumberRange(0.001, 0.1, 0.001),
    "early_stopping_patience": IntegerRange(0, 10, 10),
    "lora_rank": IntegerRange(1, 2**31 - 1, None),
    "lora_alpha": IntegerRange(1, 2**31 - 1, None),
}
INTEGER_HYPERPARAMETERS = frozenset(
    name for name, bounds in CHAT_HYPERPARAMETERS.items() if isinstance(bounds, IntegerRange)
)
HYPERPARAMETER_FIELDS = frozenset({*CHAT_HYPERPARAMETERS, "lora_target_modules"})

MODEL_FIELDS = frozenset(
    {
        "id",
        "name",
        "creator_id",
        "organization_id",
        "settings",
        "status",
        "created_at",
        "updated_at",
        "completed_at",
        "last_used",
    }
)
SETTINGS_FIELDS = frozenset({"base_model", "dataset_id", "hyperparameters", "multi_label", "wandb"})
BASE_MODEL_FIELDS = frozenset({"name", "version", "base_type", "strategy"})
WANDB_FIELDS = frozenset({"project", "api_key", "entity"})


class RequestInvalid(Exception):
    """A request body the provider answers with 400; the message names the field."""


@dataclass(frozen=True)
class ModelRequest:
    """A validated create or update body: the name and the settings to store."""

    name: str
    settings: Mapping[str, Any] | None

    @property
    def dataset_id(self) -> str | None:
        return None if self.settings is None else str(self.settings["dataset_id"])

    @property
    def base_type(self) -> str | None:
        return None if self.settings is None else str(self.settings["base_model"]["base_type"])


def parse_create_body(body: object) -> ModelRequest:
    """Validate a create body; ``settings`` in the result is never None."""
    fields = _object(body, "request body")
    _refuse_unknown(fields, MODEL_FIELDS, "")
    name = _name(fields)
    if "settings" not in fields:
        raise RequestInvalid("settings is required (with dataset_id and base_model.base_type)")
    return ModelRequest(name=name, settings=_settings(fields["settings"]))


def parse_update_body(body: object) -> ModelRequest:
    """Validate a PATCH body: ``name`` is required, ``settings`` optional."""
    fields = _object(body, "request body")
    # The document lists a ``finetuned_model`` field as required that no schema defines and no
    # client sends; it is tolerated, never demanded.
    _refuse_unknown(fields, MODEL_FIELDS | {"finetuned_model"}, "")
    name = _name(fields)
    settings = _settings(fields["settings"]) if fields.get("settings") is not None else None
    return ModelRequest(name=name, settings=settings)


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RequestInvalid(f"{where} must be a JSON object")
    return value


def _refuse_unknown(fields: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(set(fields) - known)
    if unknown:
        raise RequestInvalid(
            f"unknown field {prefix}{unknown[0]!r}; known fields are {', '.join(sorted(known))}"
        )


def _name(fields: Mapping[str, Any]) -> str:
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RequestInvalid("name is required and must be a non-empty string")
    return name


def _string(fields: Mapping[str, Any], key: str, where: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestInvalid(f"{where}.{key} must be a string")
    return value


def _settings(value: object) -> dict[str, Any]:
    fields = _object(value, "settings")
    _refuse_unknown(fields, SETTINGS_FIELDS, "settings.")
    dataset_id = _string(fields, "dataset_id", "settings")
    if not dataset_id:
        raise RequestInvalid("settings.dataset_id is required")
    if "base_model" not in fields:
        raise RequestInvalid("settings.base_model is required (with base_type)")
    base_model = _base_model(fields["base_model"])
    base_type = base_model["base_type"]
    settings: dict[str, Any] = {"base_model": base_model, "dataset_id": dataset_id}
    settings["hyperparameters"] = _hyperparameters(fields.get("hyperparameters"), base_type)
    if fields.get("wandb") is not None:
        if base_type != "BASE_TYPE_CHAT":
            raise RequestInvalid("settings.wandb is only supported for BASE_TYPE_CHAT models")
        settings["wandb"] = _wandb(fields["wandb"])
    return settings


def _base_model(value: object) -> dict[str, Any]:
    fields = _object(value, "settings.base_model")
    _refuse_unknown(fields, BASE_MODEL_FIELDS, "settings.base_model.")
    base_type = fields.get("base_type")
    if base_type is None or base_type == "BASE_TYPE_UNSPECIFIED":
        raise RequestInvalid(
            "settings.base_model.base_type is required: one of BASE_TYPE_CHAT, "
            "BASE_TYPE_CLASSIFICATION, BASE_TYPE_RERANK"
        )
    if base_type not in BASE_TYPES:
        raise RequestInvalid(
            f"settings.base_model.base_type {base_type!r} is not one of "
            f"{', '.join(sorted(BASE_TYPES))}"
        )
    if base_type == "BASE_TYPE_GENERATIVE":
        raise RequestInvalid(
            "settings.base_model.base_type BASE_TYPE_GENERATIVE is deprecated and can no "
            "longer be fine-tuned; use BASE_TYPE_CHAT"
        )
    base_model: dict[str, Any] = {"base_type": base_type}
    name = _string(fields, "name", "settings.base_model")
    if name is not None and not name.strip():
        # The field is optional: left out, the service picks the base model; sent empty, it
        # names no model, and a strict protobuf decoder refuses it.
        raise RequestInvalid(
            "settings.base_model.name must not be empty; leave it out to use the default base model"
        )
    if base_type == "BASE_TYPE_RERANK" and name is not None and name not in RERANK_BASE_MODEL_NAMES:
        raise RequestInvalid(
            f"settings.base_model.name {name!r} is not a rerank base model; use "
            f"{' or '.join(sorted(RERANK_BASE_MODEL_NAMES))}"
        )
    if name is not None:
        base_model["name"] = name
    base_model["version"] = BASE_MODEL_VERSIONS[base_type]
    strategy = fields.get("strategy")
    if strategy is not None:
        if strategy not in STRATEGIES:
            raise RequestInvalid(
                f"settings.base_model.strategy {strategy!r} is not one of "
                f"{', '.join(sorted(STRATEGIES))}"
            )
        base_model["strategy"] = strategy
    return base_model


def _hyperparameters(value: object, base_type: str) -> dict[str, Any]:
    fields = _object(value, "settings.hyperparameters") if value is not None else {}
    _refuse_unknown(fields, HYPERPARAMETER_FIELDS, "settings.hyperparameters.")
    result: dict[str, Any] = {}
    for key, bounds in CHAT_HYPERPARAMETERS.items():
        raw = fields.get(key)
        where = f"settings.hyperparameters.{key}"
        if raw is None:
            # The documented defaults are those of chat fine-tuning; other base types report
            # only what was asked for.
            if base_type == "BASE_TYPE_CHAT" and bounds.default is not None:
                result[key] = bounds.default
            continue
        number = _number(raw, where, integer=key in INTEGER_HYPERPARAMETERS)
        # The documented ranges are those of chat fine-tuning; elsewhere a value only has to
        # be positive (patience may be zero).
        low, high = (bounds.low, bounds.high) if base_type == "BASE_TYPE_CHAT" else (0, None)
        if number < low or (high is not None and number > high):
            allowed = f"between {low} and {high}" if high is not None else "not negative"
            raise RequestInvalid(f"{where} is {raw}; it must be {allowed}")
        result[key] = number
    modules = fields.get("lora_target_modules")
    if modules is not None:
        if modules not in LORA_TARGET_MODULES:
            raise RequestInvalid(
                f"settings.hyperparameters.lora_target_modules {modules!r} is not one of "
                f"{', '.join(sorted(LORA_TARGET_MODULES))}"
            )
        result["lora_target_modules"] = modules
    return result


def _number(raw: object, where: str, *, integer: bool) -> int | float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RequestInvalid(f"{where} must be a number")
    if integer:
        if isinstance(raw, float) and not raw.is_integer():
            raise RequestInvalid(f"{where} must be a whole number")
        return int(raw)
    return float(raw)


def _wandb(value: object) -> dict[str, Any]:
    fields = _object(value, "settings.wandb")
    _refuse_unknown(fields, WANDB_FIELDS, "settings.wandb.")
    wandb: dict[str, Any] = {}
    for key in ("project", "api_key"):
        text = _string(fields, key, "settings.wandb")
        if not text:
            raise RequestInvalid(f"settings.wandb.{key} is required when wandb is set")
        wandb[key] = text
    entity = _string(fields, "entity", "settings.wandb")
    if entity:
        wandb["entity"] = entity
    return wandb
