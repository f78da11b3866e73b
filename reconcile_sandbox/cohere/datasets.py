"""The emulated Cohere Datasets API: ``/v1/datasets``, ``/v1/datasets/usage``, ``.../{id}``.

Upload (``POST /v1/datasets``) takes ``name``, ``type`` and the parse options in the query
string and the file in the multipart field ``data`` (``eval_data`` optional), and answers
``{"id": "<name slug>-<6 characters>"}`` at once. The content check runs at upload, but its
verdict shows only when the asynchronous validation would end: ``queued``, then
``processing``, then ``validated`` or ``failed`` with ``validation_error`` (see
``tables.py``). Validated fine-tuning datasets carry ``metrics.finetune_dataset_metrics``.

Limits from Cohere's documentation: a name under 50 characters, 1.5 GB per dataset, 10 GB per
organisation ("You have exceeded capacity."), deletion 30 days after creation.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import string
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.cohere.dataset_validation import (
    REQUIRED_FIELDS,
    ParseOptions,
    UploadedFile,
    ValidationOutcome,
    validate_dataset,
)
from reconcile_sandbox.cohere.tables import (
    DATASET_LIFECYCLE,
    DATASETS_TABLE,
    dataset_status,
    load_dataset,
    retention_cutoff,
    timestamp,
)
from reconcile_sandbox.cohere.variants import (
    LATE_DATASET_GETS,
    TRANSIENT_UNKNOWN_GETS,
    refuse_dataset_type,
    refuses_finetuning_writes,
)
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.provider import ProviderError

DATASET_TYPES = (
    "embed-input",
    "embed-result",
    "cluster-result",
    "cluster-outliers",
    "reranker-finetune-input",
    "single-label-classification-finetune-input",
    "chat-finetune-input",
    "multi-label-classification-finetune-input",
    "batch-chat-input",
    "batch-openai-chat-input",
    "batch-embed-v2-input",
    "batch-chat-v2-input",
)
VALIDATION_STATUSES = ("unknown", "queued", "processing", "failed", "validated", "skipped")
MAX_NAME_LENGTH = 49  # the documentation asks for "<50 chars"
MAX_DATASET_BYTES = 1_500_000_000
MAX_ORGANIZATION_BYTES = 10_000_000_000
ID_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def dataset_routes(ctx: SandboxContext) -> list[BaseRoute]:
    """The Datasets API routes, relative to the Cohere mount."""
    # GETs of each dataset while a variant that answers a new dataset's first looks differently
    # (``dataset_visibility=late``, ``validation_status=transient-unknown``) is on; none are
    # counted under the defaults. Not cleared by a reset: ids are random, so a reset's new
    # datasets never meet an old count.
    looks: Counter[str] = Counter()

    async def create(request: Request) -> Response:
        name, dataset_type, options = _create_query(request)
        if refuses_finetuning_writes(ctx.variant("finetuning")) and dataset_type != "embed-input":
            raise refuse_dataset_type(dataset_type)
        data, eval_data = await _uploaded_files(request)
        size = len(data.content) + (len(eval_data.content) if eval_data else 0)
        if size > MAX_DATASET_BYTES:
            raise ProviderError(400, "A dataset can be at most 1.5 GB.")
        if _usage(ctx) + size > MAX_ORGANIZATION_BYTES:
            raise ProviderError(400, "You have exceeded capacity.")
        # Parsing a large file takes a while; keep the event loop serving other requests.
        outcome = await run_in_threadpool(validate_dataset, dataset_type, data, eval_data, options)
        dataset_id = (
            str(uuid.uuid4()) if ctx.variant("dataset_ids") == "uuid" else new_dataset_id(name)
        )
        now = ctx.now()
        ctx.store.execute(
            f"INSERT INTO {DATASETS_TABLE} "  # noqa: S608 (constant table name)
            "(id, name, dataset_type, size_bytes, validation_error, outcome, "
            "created_sim, updated_sim) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dataset_id,
                name,
                dataset_type,
                size,
                outcome.error,
                json.dumps(stored_outcome(dataset_type, options, data, eval_data, outcome)),
                now,
                now,
            ),
        )
        return JSONResponse({"id": dataset_id})

    async def list_datasets(request: Request) -> Response:
        query = request.query_params
        dataset_type = query.get("datasetType") or None
        status_filter = query.get("validationStatus") or None
        if status_filter is not None and status_filter not in VALIDATION_STATUSES:
            raise ProviderError(
                400,
                f"validationStatus {status_filter!r} is not one of "
                f"{', '.join(VALIDATION_STATUSES)}",
            )
        before = _instant(query.get("before"), "before")
        after = _instant(query.get("after"), "after")
        limit = _count(query.get("limit"), "limit")
        offset = _count(query.get("offset"), "offset") or 0
        clauses = ["created_sim >= ?"]
        params: list[Any] = [retention_cutoff(ctx)]
        cutoff = ctx.list_lag_cutoff(request)
        if cutoff is not None:
            clauses.append("updated_sim <= ?")
            params.append(cutoff)
        if dataset_type is not None:
            clauses.append("dataset_type = ?")
            params.append(dataset_type)
        if before is not None:
            clauses.append("created_sim < ?")
            params.append(before)
        if after is not None:
            clauses.append("created_sim > ?")
            params.append(after)
        sql = (
            f"SELECT * FROM {DATASETS_TABLE} WHERE {' AND '.join(clauses)} "  # noqa: S608
            "ORDER BY created_sim, id"
        )
        if status_filter is None:
            # Without a status filter the page can be cut in SQL (-1: no limit; a limit of 0
            # is read as no limit, as an unset number is in Cohere's protobuf-based API).
            rows = ctx.store.query(f"{sql} LIMIT ? OFFSET ?", [*params, limit or -1, offset])
            return _listed(ctx, [render_dataset(ctx, row) for row in rows])
        # The status is computed on read, so filtering by it happens after rendering.
        shown = [render_dataset(ctx, row) for row in ctx.store.query(sql, params)]
        shown = [item for item in shown if item["validation_status"] == status_filter]
        end = offset + limit if limit else None
        return _listed(ctx, shown[offset:end])

    async def usage(request: Request) -> Response:
        return JSONResponse({"organization_usage": _usage(ctx)})

    async def get(request: Request) -> Response:
        dataset_id = request.path_params["id"]
        row = _existing(ctx, dataset_id)
        late = ctx.variant("dataset_visibility") == "late"
        transient = ctx.variant("validation_status") == "transient-unknown"
        look = 0
        if late or transient:
            looks[dataset_id] += 1
            look = looks[dataset_id]
        if late:
            if look <= LATE_DATASET_GETS:
                # As a read replica that has not caught up yet answers.
                raise ProviderError(404, f"The dataset with id '{dataset_id}' was not found.")
            look -= LATE_DATASET_GETS
        dataset = render_dataset(ctx, row)
        if transient and look <= TRANSIENT_UNKNOWN_GETS:
            # The first look shows no status (proto3 JSON leaves the zero value out), the next
            # ``unknown``; then the usual progression.
            dataset.pop("validation_status")
            if look > 1:
                dataset["validation_status"] = "unknown"
        return JSONResponse({"dataset": dataset})

    async def delete(request: Request) -> Response:
        dataset_id = request.path_params["id"]
        _existing(ctx, dataset_id)
        ctx.store.execute(
            f"DELETE FROM {DATASETS_TABLE} WHERE id = ?",  # noqa: S608
            (dataset_id,),
        )
        return JSONResponse({})

    return [
        Route("/v1/datasets", create, methods=["POST"]),
        Route("/v1/datasets", list_datasets, methods=["GET"]),
        # Before ``{id}``: the document keeps ``usage`` out of the id pattern.
        Route("/v1/datasets/usage", usage, methods=["GET"]),
        Route("/v1/datasets/{id}", get, methods=["GET"]),
        Route("/v1/datasets/{id}", delete, methods=["DELETE"]),
    ]


def _listed(ctx: SandboxContext, datasets: list[dict[str, Any]]) -> Response:
    """A dataset list; an empty one is ``{}`` under ``empty_list=empty-object``."""
    if not datasets and ctx.variant("empty_list") == "empty-object":
        return JSONResponse({})
    return JSONResponse({"datasets": datasets})


def new_dataset_id(name: str) -> str:
    """``my-dataset-d701tr``: the name as a slug, a dash and six random characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "dataset"
    suffix = "".join(secrets.choice(ID_SUFFIX_ALPHABET) for _ in range(6))
    return f"{slug}-{suffix}"


def stored_outcome(
    dataset_type: str,
    options: ParseOptions,
    data: UploadedFile,
    eval_data: UploadedFile | None,
    outcome: ValidationOutcome,
) -> dict[str, Any]:
    """What the dataset shows once validated (kept as JSON beside the row)."""
    parts = [
        {
            "name": data.filename,
            "size_bytes": len(data.content),
            "num_rows": outcome.train_rows,
            "samples": list(outcome.samples),
        }
    ]
    if eval_data is not None:
        parts.append(
            {
                "name": eval_data.filename,
                "size_bytes": len(eval_data.content),
                "num_rows": outcome.eval_rows,
                "samples": list(outcome.eval_samples),
            }
        )
    return {
        "required_fields": list(REQUIRED_FIELDS.get(dataset_type, ())),
        "preserve_fields": [*options.keep_fields, *options.optional_fields],
        "parts": parts,
        "warnings": list(outcome.warnings),
        "metrics": dict(outcome.finetune_metrics) if outcome.finetune_metrics else None,
    }


def render_dataset(ctx: SandboxContext, row: sqlite3.Row) -> dict[str, Any]:
    """A ``Dataset`` object as the API returns it."""
    status, error = dataset_status(ctx, row)
    state = ctx.state("datasets", row)
    outcome = json.loads(row["outcome"])
    finished = status in (DATASET_LIFECYCLE.done, DATASET_LIFECYCLE.failed)
    dataset: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "created_at": timestamp(row["created_sim"]),
        "updated_at": timestamp(max(float(row["updated_sim"]), state.since)),
        "dataset_type": row["dataset_type"],
        "validation_status": status,
    }
    if error:
        dataset["validation_error"] = error
    dataset["required_fields"] = outcome["required_fields"]
    dataset["preserve_fields"] = outcome["preserve_fields"]
    dataset["dataset_parts"] = [
        _part(row["id"], index, part, with_rows=status == DATASET_LIFECYCLE.done)
        for index, part in enumerate(outcome["parts"])
    ]
    if finished:
        dataset["validation_warnings"] = outcome["warnings"]
    if status == DATASET_LIFECYCLE.done and outcome["metrics"] is not None:
        dataset["metrics"] = {"finetune_dataset_metrics": outcome["metrics"]}
    return dataset


def _part(dataset_id: str, index: int, part: dict[str, Any], *, with_rows: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": f"{dataset_id}-part-{index}",
        "name": part["name"],
        "index": index,
        "size_bytes": part["size_bytes"],
    }
    if with_rows:
        shown["num_rows"] = part["num_rows"]
        shown["samples"] = part["samples"]
    return shown


def _existing(ctx: SandboxContext, dataset_id: str) -> sqlite3.Row:
    row = load_dataset(ctx, dataset_id)
    if row is None:
        raise ProviderError(404, f"The dataset with id '{dataset_id}' was not found.")
    return row


def _usage(ctx: SandboxContext) -> int:
    row = ctx.store.query_one(
        f"SELECT COALESCE(SUM(size_bytes), 0) AS used FROM {DATASETS_TABLE} "  # noqa: S608
        "WHERE created_sim >= ?",
        (retention_cutoff(ctx),),
    )
    return 0 if row is None else int(row["used"])


def _create_query(request: Request) -> tuple[str, str, ParseOptions]:
    query = request.query_params
    name = query.get("name")
    if not name or not name.strip():
        raise ProviderError(400, "The query parameter 'name' (the dataset name) is required.")
    if len(name) > MAX_NAME_LENGTH:
        raise ProviderError(
            400, f"The dataset name is {len(name)} characters long; it must be under 50."
        )
    dataset_type = query.get("type")
    if not dataset_type:
        raise ProviderError(
            400, "The query parameter 'type' is required, e.g. type=chat-finetune-input."
        )
    if dataset_type not in DATASET_TYPES:
        raise ProviderError(400, f"type {dataset_type!r} is not one of {', '.join(DATASET_TYPES)}.")
    delimiter = query.get("csv_delimiter", ",")
    if len(delimiter) != 1:
        raise ProviderError(400, "csv_delimiter must be a single character.")
    separator = query.get("text_separator") or "\n"
    options = ParseOptions(
        skip_malformed_input=_flag(query.get("skip_malformed_input"), "skip_malformed_input"),
        csv_delimiter=delimiter,
        text_separator=separator,
        keep_fields=tuple(query.getlist("keep_fields")),
        optional_fields=tuple(query.getlist("optional_fields")),
    )
    _flag(query.get("keep_original_file"), "keep_original_file")
    return name, dataset_type, options


async def _uploaded_files(request: Request) -> tuple[UploadedFile, UploadedFile | None]:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ProviderError(
            400,
            "Send the dataset as multipart/form-data with the file in the field 'data' "
            "(and optionally 'eval_data').",
        )
    async with request.form() as form:
        data = form.get("data")
        if not isinstance(data, UploadFile):
            present = ", ".join(sorted(form.keys())) or "none"
            raise ProviderError(
                400,
                f"The multipart field 'data' with the dataset file is required "
                f"(fields received: {present}).",
            )
        train = UploadedFile(data.filename or "data", await data.read())
        evaluation = form.get("eval_data")
        eval_file = (
            UploadedFile(evaluation.filename or "eval_data", await evaluation.read())
            if isinstance(evaluation, UploadFile)
            else None
        )
    return train, eval_file


def _flag(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ProviderError(400, f"{name} must be true or false; got {value!r}.")
    return lowered == "true"


def _count(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ProviderError(400, f"{name} must be a number; got {value!r}.") from None
    if number < 0 or not number.is_integer():
        raise ProviderError(400, f"{name} must be a whole number, 0 or more; got {value!r}.")
    return int(number)


def _instant(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProviderError(
            400, f"{name} must be a date-time such as 2024-01-17T20:11:42Z; got {value!r}."
        ) from None
    if parsed.tzinfo is None:
        raise ProviderError(400, f"{name} must carry a time zone (e.g. a trailing Z).")
    return parsed.timestamp()
