"""The Cohere emulator: fine-tuned models and datasets (Cohere's v1 API), mounted at ``/cohere``.

Point a client at ``http://127.0.0.1:PORT/cohere`` (``COHERE_BASE_URL``; the ``cohere`` SDK
takes it as ``cohere.Client(base_url=...)`` or reads ``CO_API_URL`` when imported) with
``Authorization: Bearer <key>`` (default key ``sandbox-cohere-key``). Errors answer
``{"message": ...}``; a missing or wrong key answers 401.

The routes live in ``finetuning.py`` and ``datasets.py``, the tables and lifecycles in
``tables.py``. Cohere deprecated its fine-tuning API in September 2025; the sandbox keeps
emulating it as documented. A model that reaches STATUS_READY is usable under the inference id
``<id>-ft``.

Variants (``variants.py``, ``docs/providers.md``): ``dataset_ids``, ``page_size_cap``,
``empty_list``, ``dataset_visibility``, ``validation_status`` and ``finetuning``.

Control API (``/_sandbox/cohere/...``): object kinds ``finetuned-models`` and ``datasets`` can
be inspected, changed out of band (``PATCH {"fields": {"name": "renamed in the console"}}``),
advanced (``{"to": "STATUS_READY"}`` or ``{"to": "validated"}``) and failed. Seeding
(``POST /_sandbox/cohere/seed {"count": N, "options": {...}}``) creates N fine-tuned models,
each with its validated chat dataset; options:

- ``prefix`` (default ``seed``): model ``<prefix>-model-00001``, dataset ``<prefix>-data-00001``;
- ``age_seconds`` (default 86400): how long ago the newest was created; the default leaves
  every model STATUS_READY (under 30 days, so the datasets still exist);
- ``base_type`` (default ``BASE_TYPE_CHAT``): ``BASE_TYPE_CHAT``, ``BASE_TYPE_CLASSIFICATION``
  or ``BASE_TYPE_RERANK``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.routing import BaseRoute

from reconcile_sandbox.cohere.dataset_validation import REQUIRED_FIELDS
from reconcile_sandbox.cohere.datasets import dataset_routes, new_dataset_id
from reconcile_sandbox.cohere.finetune_requests import (
    BASE_MODEL_VERSIONS,
    CHAT_HYPERPARAMETERS,
)
from reconcile_sandbox.cohere.finetuning import finetuning_routes
from reconcile_sandbox.cohere.tables import (
    DATASET_LIFECYCLE,
    DATASET_RETENTION_SECONDS,
    DATASETS,
    DATASETS_TABLE,
    MODEL_LIFECYCLE,
    MODELS,
    MODELS_TABLE,
    SANDBOX_ORGANIZATION_ID,
    SANDBOX_USER_ID,
    SCHEMA,
)
from reconcile_sandbox.cohere.variants import VARIANTS
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.create_status import create_status_values
from reconcile_sandbox.provider import ApiKeyAuth, ObjectKind, Provider

# Seeded rows are created this many simulated seconds apart, so their order is well defined.
SEED_SPACING_SECONDS = 0.001
SEED_DATASET_TYPES: Mapping[str, str] = {
    "BASE_TYPE_CHAT": "chat-finetune-input",
    "BASE_TYPE_CLASSIFICATION": "single-label-classification-finetune-input",
    "BASE_TYPE_RERANK": "reranker-finetune-input",
}
SEED_DATASET_BYTES = 2048
SEED_DATASET_ROWS = 100


def cohere_error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
    """Cohere's ``Error``: ``{"message": ...}`` (the generic code is not part of it)."""
    return {"message": message}


def cohere_routes(ctx: SandboxContext) -> list[BaseRoute]:
    return [*finetuning_routes(ctx), *dataset_routes(ctx)]


def seed_finetuned_models(ctx: SandboxContext, count: int, options: Mapping[str, Any]) -> int:
    """Insert ``count`` existing fine-tuned models, each with its own validated dataset."""
    unknown = sorted(set(options) - {"prefix", "age_seconds", "base_type"})
    if unknown:
        raise ValueError(
            f"unknown seed option(s) {', '.join(unknown)}; use prefix, age_seconds, base_type"
        )
    prefix = options.get("prefix", "seed")
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("'prefix' must be a non-empty string")
    age = options.get("age_seconds", 86400.0)
    if isinstance(age, bool) or not isinstance(age, int | float) or age < 0:
        raise ValueError("'age_seconds' must be a number of seconds, 0 or more")
    base_type = options.get("base_type", "BASE_TYPE_CHAT")
    if base_type not in SEED_DATASET_TYPES:
        raise ValueError(f"'base_type' must be one of {', '.join(sorted(SEED_DATASET_TYPES))}")
    if age + count * SEED_SPACING_SECONDS >= DATASET_RETENTION_SECONDS:
        raise ValueError("'age_seconds' must stay under 30 days: older datasets are deleted")
    dataset_type = SEED_DATASET_TYPES[base_type]
    newest = ctx.now() - float(age)
    datasets: list[tuple[Any, ...]] = []
    models: list[tuple[Any, ...]] = []
    outcome = json.dumps(_seed_outcome(dataset_type))
    for index in range(count):
        created = newest - (count - index) * SEED_SPACING_SECONDS
        number = f"{index + 1:05d}"
        dataset_id = new_dataset_id(f"{prefix}-data-{number}")
        datasets.append(
            (
                dataset_id,
                f"{prefix}-data-{number}",
                dataset_type,
                SEED_DATASET_BYTES,
                outcome,
                created,
                created,
            )
        )
        models.append(
            (
                str(uuid.uuid4()),
                f"{prefix}-model-{number}",
                SANDBOX_USER_ID,
                SANDBOX_ORGANIZATION_ID,
                json.dumps(_seed_settings(base_type, dataset_id, dataset_type)),
                created,
                created,
            )
        )
    ctx.store.executemany(
        f"INSERT INTO {DATASETS_TABLE} "  # noqa: S608 (constant table name)
        "(id, name, dataset_type, size_bytes, outcome, created_sim, updated_sim) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        datasets,
    )
    return ctx.store.executemany(
        f"INSERT INTO {MODELS_TABLE} "  # noqa: S608
        "(id, name, creator_id, organization_id, settings, created_sim, updated_sim) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        models,
    )


def _seed_settings(base_type: str, dataset_id: str, dataset_type: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "base_model": {"base_type": base_type, "version": BASE_MODEL_VERSIONS[base_type]},
        "dataset_id": dataset_id,
        "hyperparameters": {},
    }
    if base_type == "BASE_TYPE_CHAT":
        settings["hyperparameters"] = {
            name: bounds.default
            for name, bounds in CHAT_HYPERPARAMETERS.items()
            if bounds.default is not None
        }
    if base_type == "BASE_TYPE_CLASSIFICATION":
        settings["multi_label"] = dataset_type.startswith("multi-label")
    return settings


def _seed_outcome(dataset_type: str) -> dict[str, Any]:
    """A validated dataset's details, without its rows (seeding stores no file)."""
    rows = SEED_DATASET_ROWS
    return {
        "required_fields": list(REQUIRED_FIELDS.get(dataset_type, ())),
        "preserve_fields": [],
        "parts": [
            {
                "name": "data.jsonl",
                "size_bytes": SEED_DATASET_BYTES,
                "num_rows": rows,
                "samples": [],
            }
        ],
        "warnings": [],
        "metrics": {
            "trainable_token_count": rows * 40,
            "total_examples": rows,
            "train_examples": rows - rows // 5,
            "train_size_bytes": SEED_DATASET_BYTES * 4 // 5,
            "eval_examples": rows // 5,
            "eval_size_bytes": SEED_DATASET_BYTES // 5,
        },
    }


PROVIDER = Provider(
    name="cohere",
    mount="/cohere",
    auth=ApiKeyAuth(
        scheme="bearer",
        default_key="sandbox-cohere-key",
        unauthorized_message="invalid api token",
        unauthorized_code="UNAUTHORIZED",
    ),
    error_body=cohere_error_body,
    schema=SCHEMA,
    routes=cohere_routes,
    kinds={
        MODELS: ObjectKind(table=MODELS_TABLE, lifecycle=MODEL_LIFECYCLE),
        DATASETS: ObjectKind(table=DATASETS_TABLE, lifecycle=DATASET_LIFECYCLE, settles=True),
    },
    seed=seed_finetuned_models,
    base_url_env=("COHERE_BASE_URL", "CO_API_URL"),
    api_key_env=("COHERE_API_KEY", "CO_API_KEY"),
    # CO-OAS documents 200 for a fine-tuned model create (create_status.py).
    variants={**VARIANTS, "create_status": create_status_values(200)},
)
