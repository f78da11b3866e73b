"""The emulated Cohere fine-tuning API: ``/v1/finetuning/finetuned-models`` and its sub-resources.

- list: ``page_size`` (0 or absent means 50), opaque ``page_token`` ("" after the last page),
  ``order_by`` ``created_at`` or ``created_at desc``, ``total_size``; honours the list-lag fault;
- create: 200 ``{finetuned_model}``; the dataset must exist, be ``validated`` and suit the base
  type (chat: chat-finetune-input; classification: single- or multi-label; rerank: reranker);
- get, PATCH (``name``, optionally ``settings``), DELETE (``{}``, irreversible);
- events: the status transitions with their times, oldest first unless ``order_by`` says
  ``created_at desc`` (the document's prose says "most recent first", but its example and its
  ``order_by`` default are ascending); training-step-metrics: an evaluation every tenth of the
  training time, appearing as training progresses, by step number.

A model that reaches STATUS_READY is usable for inference under the id ``<id>-ft``.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.cohere.finetune_requests import (
    DATASET_TYPES_BY_BASE_TYPE,
    ModelRequest,
    RequestInvalid,
    parse_create_body,
    parse_update_body,
)
from reconcile_sandbox.cohere.paging import (
    PageRequest,
    PagingInvalid,
    encode_token,
    offset_of,
    parse_page_request,
)
from reconcile_sandbox.cohere.tables import (
    DATASET_LIFECYCLE,
    FINETUNING_SECONDS,
    MODEL_LIFECYCLE,
    MODELS,
    MODELS_TABLE,
    QUEUED_SECONDS,
    SANDBOX_ORGANIZATION_ID,
    SANDBOX_USER_ID,
    dataset_status,
    load_dataset,
    load_model,
    timestamp,
)
from reconcile_sandbox.cohere.variants import (
    PAGE_SIZE_CAP,
    refuse_finetuning,
    refuses_finetuning_writes,
)
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.create_status import created
from reconcile_sandbox.provider import ProviderError

Handler = Callable[[Request], Awaitable[Response]]

EVALUATIONS_PER_TRAINING = 10
STEPS_PER_EVALUATION = 9
# Events the provider records on behalf of the system carry no user id.
SYSTEM_STATUSES = frozenset({"STATUS_READY", "STATUS_FAILED"})


def finetuning_routes(ctx: SandboxContext) -> list[BaseRoute]:
    """The fine-tuning API routes, relative to the Cohere mount."""

    async def list_models(request: Request) -> Response:
        page = _capped(ctx, _page(request, with_order=True))
        clauses: list[str] = []
        params: list[Any] = []
        cutoff = ctx.list_lag_cutoff(request)
        if cutoff is not None:
            clauses.append("updated_sim <= ?")
            params.append(cutoff)
        total_row = ctx.store.query_one(
            f"SELECT COUNT(*) AS n FROM {MODELS_TABLE}"  # noqa: S608 (constant table name)
            + (f" WHERE {' AND '.join(clauses)}" if clauses else ""),
            params,
        )
        total = 0 if total_row is None else int(total_row["n"])
        if page.token is not None:
            created, model_id = _keyset(page)
            after = "<" if page.descending else ">"
            clauses.append(f"(created_sim {after} ? OR (created_sim = ? AND id {after} ?))")
            params.extend([created, created, model_id])
        direction = "DESC" if page.descending else "ASC"
        rows = ctx.store.query(
            f"SELECT * FROM {MODELS_TABLE}"  # noqa: S608
            + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
            + f" ORDER BY created_sim {direction}, id {direction} LIMIT ?",
            [*params, page.size + 1],
        )
        shown = rows[: page.size]
        next_token = ""
        if len(rows) > page.size:
            last = shown[-1]
            next_token = encode_token([float(last["created_sim"]), last["id"]], page.descending)
        body = {
            "finetuned_models": [render_model(ctx, row) for row in shown],
            "next_page_token": next_token,
            "total_size": total,
        }
        if ctx.variant("empty_list") == "empty-object":
            # proto3 JSON: empty lists, empty strings and zeros are left out.
            body = {key: value for key, value in body.items() if value}
        return JSONResponse(body)

    async def create(request: Request) -> Response:
        body = await ctx.json_object(request)
        try:
            wanted = parse_create_body(body)
        except RequestInvalid as invalid:
            raise ProviderError(400, str(invalid)) from invalid
        settings = _settings_with_dataset(ctx, wanted)
        model_id = str(uuid.uuid4())
        now = ctx.now()
        ctx.store.execute(
            f"INSERT INTO {MODELS_TABLE} "  # noqa: S608
            "(id, name, creator_id, organization_id, settings, created_sim, updated_sim) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                model_id,
                wanted.name,
                SANDBOX_USER_ID,
                SANDBOX_ORGANIZATION_ID,
                json.dumps(settings),
                now,
                now,
            ),
        )
        return created(ctx, {"finetuned_model": render_model(ctx, _existing(ctx, model_id))})

    async def get(request: Request) -> Response:
        row = _existing(ctx, request.path_params["id"])
        return JSONResponse({"finetuned_model": render_model(ctx, row)})

    async def update(request: Request) -> Response:
        model_id = request.path_params["id"]
        row = _existing(ctx, model_id)
        body = await ctx.json_object(request)
        try:
            wanted = parse_update_body(body)
        except RequestInvalid as invalid:
            raise ProviderError(400, str(invalid)) from invalid
        settings = json.loads(row["settings"])
        if wanted.settings is not None:
            settings = _updated_settings(ctx, settings, wanted)
        ctx.store.execute(
            f"UPDATE {MODELS_TABLE} SET name = ?, settings = ?, updated_sim = ? "  # noqa: S608
            "WHERE id = ?",
            (wanted.name, json.dumps(settings), ctx.now(), model_id),
        )
        return JSONResponse({"finetuned_model": render_model(ctx, _existing(ctx, model_id))})

    async def delete(request: Request) -> Response:
        model_id = request.path_params["id"]
        _existing(ctx, model_id)
        ctx.store.execute(
            f"DELETE FROM {MODELS_TABLE} WHERE id = ?",  # noqa: S608
            (model_id,),
        )
        return JSONResponse({})

    async def events(request: Request) -> Response:
        page = _page(request, with_order=True)
        row = _existing(ctx, request.path_params["finetuned_model_id"])
        all_events = model_events(ctx, row)
        if page.descending:
            all_events.reverse()
        shown, next_token = _offset_page(all_events, page)
        return JSONResponse(
            {"events": shown, "next_page_token": next_token, "total_size": len(all_events)}
        )

    async def step_metrics(request: Request) -> Response:
        page = _page(request, with_order=False)
        row = _existing(ctx, request.path_params["finetuned_model_id"])
        shown, next_token = _offset_page(training_step_metrics(ctx, row), page)
        return JSONResponse({"step_metrics": shown, "next_page_token": next_token})

    def gated(handler: Handler, *, writes: bool = False) -> Handler:
        """``handler``, unless fine-tuning is switched off (``finetuning=deprecated``) or, for a
        write, its writes are (``finetuning=deprecated-writes``: the reads still answer)."""

        async def answer(request: Request) -> Response:
            setting = ctx.variant("finetuning")
            refused = refuses_finetuning_writes(setting) if writes else setting == "deprecated"
            if refused:
                raise refuse_finetuning()
            return await handler(request)

        return answer

    base = "/v1/finetuning/finetuned-models"
    return [
        Route(base, gated(list_models), methods=["GET"]),
        Route(base, gated(create, writes=True), methods=["POST"]),
        Route(f"{base}/{{id}}", gated(get), methods=["GET"]),
        Route(f"{base}/{{id}}", gated(update, writes=True), methods=["PATCH"]),
        Route(f"{base}/{{id}}", gated(delete, writes=True), methods=["DELETE"]),
        Route(f"{base}/{{finetuned_model_id}}/events", gated(events), methods=["GET"]),
        Route(
            f"{base}/{{finetuned_model_id}}/training-step-metrics",
            gated(step_metrics),
            methods=["GET"],
        ),
    ]


def render_model(ctx: SandboxContext, row: sqlite3.Row) -> dict[str, Any]:
    """A ``FinetunedModel`` as the API returns it."""
    state = ctx.state(MODELS, row)
    model: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "creator_id": row["creator_id"],
        "organization_id": row["organization_id"],
        "settings": json.loads(row["settings"]),
        "status": state.status,
        "created_at": timestamp(row["created_sim"]),
        "updated_at": timestamp(max(float(row["updated_sim"]), state.since)),
    }
    if state.status == MODEL_LIFECYCLE.done:
        model["completed_at"] = timestamp(state.since)
    return model


def model_events(ctx: SandboxContext, row: sqlite3.Row) -> list[dict[str, Any]]:
    """One event per status reached, oldest first."""
    state = ctx.state(MODELS, row)
    events: list[dict[str, Any]] = []
    for status, began in state.history:
        event: dict[str, Any] = {"status": status, "created_at": timestamp(began)}
        if status not in SYSTEM_STATUSES:
            event = {"user_id": row["creator_id"], **event}
        events.append(event)
    return events


def training_step_metrics(ctx: SandboxContext, row: sqlite3.Row) -> list[dict[str, Any]]:
    """The evaluations reached so far, by step number: loss falls and accuracy rises."""
    now = ctx.now()
    created = float(row["created_sim"])
    offset = float(row["progress_offset"])
    stop = now
    if row["failed_sim"] is not None:
        stop = min(stop, float(row["failed_sim"]))
    age = max(0.0, stop - created + offset)
    # A per-model seed, so two models' curves differ but one model's never changes.
    seed = int(hashlib.sha256(str(row["id"]).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    interval = FINETUNING_SECONDS / EVALUATIONS_PER_TRAINING
    metrics: list[dict[str, Any]] = []
    for index in range(EVALUATIONS_PER_TRAINING):
        at_age = QUEUED_SECONDS + index * interval
        if at_age > age:
            break
        step = index * STEPS_PER_EVALUATION
        progress = index / (EVALUATIONS_PER_TRAINING - 1)
        cross_entropy = round(0.6 + (3.5 + seed) * math.exp(-3.0 * progress), 6)
        accuracy = round(0.45 + (0.3 + 0.1 * seed) * (1 - math.exp(-3.0 * progress)), 6)
        metrics.append(
            {
                "created_at": timestamp(max(created, min(now, created - offset + at_age))),
                "step_number": step,
                "metrics": {
                    "accuracy": accuracy,
                    "cross_entropy": cross_entropy,
                    "generation_accuracy": accuracy,
                    "generation_cross_entropy": cross_entropy,
                    "step": float(step),
                },
            }
        )
    return metrics


def _existing(ctx: SandboxContext, model_id: str) -> sqlite3.Row:
    row = load_model(ctx, model_id)
    if row is None:
        raise ProviderError(404, f"The fine-tuned model with id '{model_id}' was not found.")
    return row


def _page(request: Request, *, with_order: bool) -> PageRequest:
    query = request.query_params
    try:
        return parse_page_request(
            query.get("page_size"),
            query.get("page_token"),
            query.get("order_by") if with_order else None,
        )
    except PagingInvalid as invalid:
        raise ProviderError(400, str(invalid)) from invalid


def _capped(ctx: SandboxContext, page: PageRequest) -> PageRequest:
    """``page`` under the ``page_size_cap`` variant: lowered to the cap, or refused above it."""
    cap = ctx.variant("page_size_cap")
    if cap == "none" or page.size <= PAGE_SIZE_CAP:
        return page
    if cap == "100-refused":
        raise ProviderError(400, f"page_size must be at most {PAGE_SIZE_CAP}; got {page.size}.")
    return replace(page, size=PAGE_SIZE_CAP)


def _keyset(page: PageRequest) -> tuple[float, str]:
    token = page.token
    if (
        not isinstance(token, list)
        or len(token) != 2
        or not isinstance(token[0], int | float)
        or not isinstance(token[1], str)
    ):
        raise ProviderError(400, "page_token is not a token this API issued for this list.")
    return float(token[0]), token[1]


def _offset_page(
    items: list[dict[str, Any]], page: PageRequest
) -> tuple[list[dict[str, Any]], str]:
    try:
        start = offset_of(page)
    except PagingInvalid as invalid:
        raise ProviderError(400, str(invalid)) from invalid
    end = start + page.size
    next_token = encode_token(end, page.descending) if end < len(items) else ""
    return items[start:end], next_token


def _checked_dataset(ctx: SandboxContext, dataset_id: str, base_type: str) -> str:
    """The dataset's type, once it is known to exist, be validated and suit ``base_type``."""
    row = load_dataset(ctx, dataset_id)
    if row is None:
        raise ProviderError(404, f"The dataset with id '{dataset_id}' was not found.")
    status, error = dataset_status(ctx, row)
    if status == DATASET_LIFECYCLE.failed:
        raise ProviderError(
            400, f"The dataset '{dataset_id}' failed validation ({error}); upload a fixed file."
        )
    if status != DATASET_LIFECYCLE.done:
        raise ProviderError(
            400,
            f"The dataset '{dataset_id}' is not validated yet (validation_status: {status}); "
            "wait until it is validated.",
        )
    dataset_type = str(row["dataset_type"])
    accepted = DATASET_TYPES_BY_BASE_TYPE[base_type]
    if dataset_type not in accepted:
        raise ProviderError(
            400,
            f"The dataset '{dataset_id}' is of type {dataset_type}; a {base_type} model "
            f"trains on {' or '.join(sorted(accepted))}.",
        )
    return dataset_type


def _settings_with_dataset(ctx: SandboxContext, wanted: ModelRequest) -> dict[str, Any]:
    assert wanted.settings is not None and wanted.dataset_id and wanted.base_type
    dataset_type = _checked_dataset(ctx, wanted.dataset_id, wanted.base_type)
    settings = dict(wanted.settings)
    if wanted.base_type == "BASE_TYPE_CLASSIFICATION":
        settings["multi_label"] = dataset_type.startswith("multi-label")
    return settings


def _updated_settings(
    ctx: SandboxContext, current: dict[str, Any], wanted: ModelRequest
) -> dict[str, Any]:
    """The settings after a PATCH: a new dataset is checked like on create."""
    assert wanted.settings is not None
    if wanted.base_type != current["base_model"]["base_type"]:
        raise ProviderError(
            400,
            f"settings.base_model.base_type cannot change from "
            f"{current['base_model']['base_type']} to {wanted.base_type}; create a new model.",
        )
    if wanted.dataset_id != current["dataset_id"]:
        return _settings_with_dataset(ctx, wanted)
    settings = dict(wanted.settings)
    if "multi_label" in current:
        settings["multi_label"] = current["multi_label"]
    return settings
