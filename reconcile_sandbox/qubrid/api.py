"""The Qubrid fine-tuning emulator (CONTRACTS.md §B, ``shared/providers/qubrid-openapi.yaml``).

Mounted at ``/qubrid/api/v1``; every request needs ``Authorization: Bearer <key>``. Endpoints:

    GET    /fine-tuning/jobs?limit=&offset=   {data, total}, newest first; limit 1–100 (20)
    POST   /fine-tuning/jobs                  201 FineTuningJob; 400 invalid or unknown dataset;
                                              402 when the sandbox account has no credits left
    GET    /fine-tuning/jobs/{job_id}         FineTuningJob or 404
    POST   /fine-tuning/jobs/{job_id}/cancel  queued/running -> cancelled (progress discarded)
    GET    /fine-tuning/datasets              {data}, newest first, no paging
    POST   /fine-tuning/datasets              multipart ``file`` (.csv) and ``name``? -> 201
    GET    /fine-tuning/datasets/{id}         Dataset or 404
    DELETE /fine-tuning/datasets/{id}         204; 409 while a queued or running job uses it
    GET    /fine-tuning/models                {data}: models of completed jobs, newest first
    DELETE /fine-tuning/models/{model_id}     204; the model stays listed as ``deleted``

Errors are Qubrid's ``{"error": {"message", "type", "code"}}``; ``type`` follows the status
(``invalid_request_error``, ``authentication_error``, ``billing_error``, ``not_found_error``,
``conflict_error``, ``rate_limit_error``, ``api_error``).

Choices the document leaves open (Qubrid's fine-tuning API is unverified, see CONTRACTS.md), with
the other readings of paging, list shape, ids and the models route as variants (``readings.py``):
lists are newest first; a create naming an unknown dataset is a 400 (the only documented client
error of that operation); any non-empty ``base_model`` is accepted; missing ``epochs`` and
``learning_rate`` are filled with defaults (see ``requests.py``); cancelling a job that has
already finished answers 200 with the job unchanged; deleting a deleted model is a 404; an empty
dataset ``name`` falls back to the file name. A failed job carries an ``error`` object, which
the document does not have.

Lifecycle (``lifecycle.py``): ``queued`` 30 s, ``running`` 600 s with ``training_metrics``
filling in, then ``completed`` with ``fine_tuned_model`` and ``completed_at``; the model is
``deploying`` for 60 s, then ``available`` (all simulated seconds). Seeding options (``prefix``,
``status``, ``base_model``, ``age_seconds``, ``spacing_seconds``) are described in
``seed.py``; CSV checks in ``csv_inspection.py``; request validation in ``requests.py``.

Control routes under ``/_sandbox/qubrid/`` (besides the generic ones for kinds ``jobs`` and
``datasets``):

    GET  /credits                     {"credits": n or null}  (null: unlimited, the default)
    PUT  /credits   {"credits": n}    each create spends one; at 0 creates answer 402
    POST /jobs/{job_id}/cancel        cancel out of band, as from Qubrid's console
"""

from __future__ import annotations

import json
import sqlite3
from http import HTTPStatus
from pathlib import PureWindowsPath
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.create_status import create_status_values, created
from reconcile_sandbox.provider import ApiKeyAuth, ObjectKind, Provider, ProviderError
from reconcile_sandbox.qubrid.csv_inspection import (
    MalformedCsvError,
    has_csv_extension,
    inspect_csv,
)
from reconcile_sandbox.qubrid.lifecycle import (
    ACTIVE_STATUSES,
    CANCELLED,
    COMPLETED,
    JOB_LIFECYCLE,
    training_shape,
)
from reconcile_sandbox.qubrid.readings import (
    VARIANTS,
    integer_ids,
    list_body,
    models_route_present,
    offset_honoured,
)
from reconcile_sandbox.qubrid.requests import (
    check_dataset_name,
    invalid,
    parse_job_request,
    parse_page,
)
from reconcile_sandbox.qubrid.seed import seed_jobs
from reconcile_sandbox.qubrid.tables import (
    INSERT_DATASET,
    INSERT_JOB,
    NEWEST_FIRST,
    SCHEMA_SQL,
    completed_job_filter,
    dataset_json,
    job_json,
    model_json,
    new_dataset_id,
    new_job_id,
    new_model_id,
)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    429: "rate_limit_error",
}


def error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
    """Qubrid's ErrorResponse; the framework's upper-case codes become Qubrid-style snake case."""
    if code is None:
        try:
            code = HTTPStatus(status).name
        except ValueError:
            code = "error"
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "api_error" if status >= 500 else "error"),
            "code": code.lower(),
        }
    }


def _routes(ctx: SandboxContext) -> list[BaseRoute]:
    store = ctx.store

    def lag_filter(request: Request) -> tuple[str, tuple[float, ...]]:
        cutoff = ctx.list_lag_cutoff(request)
        return ("", ()) if cutoff is None else ("updated_sim <= ?", (cutoff,))

    def job_row(job_id: str) -> sqlite3.Row:
        row = store.query_one("SELECT * FROM qubrid_jobs WHERE id = ?", (job_id,))
        if row is None:
            raise _job_not_found(job_id)
        return row

    def dataset_row(dataset_id: str) -> sqlite3.Row:
        row = store.query_one("SELECT * FROM qubrid_datasets WHERE id = ?", (dataset_id,))
        if row is None:
            raise _dataset_not_found(dataset_id)
        return row

    async def list_jobs(request: Request) -> Response:
        page = parse_page(request.query_params)
        # offset=ignored: the server pages by limit alone, every page is the first.
        offset = page.offset if offset_honoured(ctx) else 0
        condition, params = lag_filter(request)
        where = f"WHERE {condition}" if condition else ""
        total_row = store.query_one(f"SELECT COUNT(*) AS total FROM qubrid_jobs {where}", params)  # noqa: S608
        rows = store.query(
            f"SELECT * FROM qubrid_jobs {where} {NEWEST_FIRST} LIMIT ? OFFSET ?",  # noqa: S608
            (*params, page.limit, offset),
        )
        now, integers = ctx.now(), integer_ids(ctx)
        total = int(total_row["total"]) if total_row is not None else 0
        jobs = [job_json(row, now, integers=integers) for row in rows]
        return JSONResponse(list_body(ctx, jobs, total))

    async def create_job(request: Request) -> Response:
        job = parse_job_request(await ctx.json_object(request))
        job_id = new_job_id(numeric=integer_ids(ctx))
        with store.transaction() as connection:
            dataset = connection.execute(
                "SELECT row_count FROM qubrid_datasets WHERE id = ?", (job.dataset_id,)
            ).fetchone()
            if dataset is None:
                raise invalid(
                    f"Dataset {job.dataset_id!r} was not found; upload it with "
                    "POST /fine-tuning/datasets and use the id it returns.",
                    "dataset_not_found",
                )
            _spend_credit(connection)
            now = ctx.now()
            shape = training_shape(
                int(dataset["row_count"]),
                job.hyperparameters.epochs,
                job.hyperparameters.max_steps,
                job.hyperparameters.validation_split,
            )
            connection.execute(
                INSERT_JOB,
                (
                    job_id,
                    job.base_model,
                    job.dataset_id,
                    job.task_type,
                    json.dumps(job.hyperparameters.to_json()),
                    job.suffix,
                    new_model_id(job.base_model, job.suffix),
                    shape.total_steps,
                    shape.steps_per_epoch,
                    shape.epochs,
                    int(shape.has_validation),
                    now,
                    now,
                    0.0,
                    None,
                    None,
                    None,
                    None,
                ),
            )
        return created(ctx, job_json(job_row(job_id), ctx.now(), integers=integer_ids(ctx)))

    async def get_job(request: Request) -> Response:
        row = job_row(request.path_params["job_id"])
        return JSONResponse(job_json(row, ctx.now(), integers=integer_ids(ctx)))

    async def cancel_job(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        row = cancel(ctx, job_id)
        if row is None:
            raise _job_not_found(job_id)
        return JSONResponse(job_json(row, ctx.now(), integers=integer_ids(ctx)))

    async def list_datasets(request: Request) -> Response:
        condition, params = lag_filter(request)
        where = f"WHERE {condition}" if condition else ""
        rows = store.query(f"SELECT * FROM qubrid_datasets {where} {NEWEST_FIRST}", params)  # noqa: S608
        integers = integer_ids(ctx)
        return JSONResponse(list_body(ctx, [dataset_json(row, integers=integers) for row in rows]))

    async def upload_dataset(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise invalid(
                "Upload the dataset as multipart/form-data with the CSV file in the 'file' "
                f"field (got content type {content_type or 'none'!r}).",
                "invalid_content_type",
            )
        try:
            form = await request.form()
        except (MultiPartException, HTTPException) as error:
            raise invalid(f"The multipart body could not be read: {error}") from error
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise invalid(
                    "The 'file' field is required and must be a file (the CSV dataset).",
                    "missing_file",
                )
            filename = PureWindowsPath(upload.filename or "").name
            if not has_csv_extension(filename):
                raise invalid(
                    f"Only CSV files are accepted; {filename or 'the upload'!r} does not have "
                    "a .csv extension.",
                    "unsupported_file_type",
                )
            content = await upload.read()
            name_field = form.get("name")
        finally:
            await form.close()
        if name_field is not None and not isinstance(name_field, str):
            raise invalid("'name' must be a text field, not a file.", "invalid_name")
        name = name_field or filename
        check_dataset_name(name)
        try:
            summary = inspect_csv(content)
        except MalformedCsvError as error:
            raise invalid(
                f"{filename} is not a valid CSV dataset: {error}.", "malformed_csv"
            ) from error
        dataset_id = new_dataset_id(numeric=integer_ids(ctx))
        now = ctx.now()
        store.execute(
            INSERT_DATASET,
            (
                dataset_id,
                name,
                summary.size_bytes,
                summary.row_count,
                json.dumps(list(summary.columns)),
                now,
                now,
            ),
        )
        return JSONResponse(
            dataset_json(dataset_row(dataset_id), integers=integer_ids(ctx)), status_code=201
        )

    async def get_dataset(request: Request) -> Response:
        row = dataset_row(request.path_params["dataset_id"])
        return JSONResponse(dataset_json(row, integers=integer_ids(ctx)))

    async def delete_dataset(request: Request) -> Response:
        dataset_id = request.path_params["dataset_id"]
        with store.transaction() as connection:
            if (
                connection.execute(
                    "SELECT id FROM qubrid_datasets WHERE id = ?", (dataset_id,)
                ).fetchone()
                is None
            ):
                raise _dataset_not_found(dataset_id)
            now = ctx.now()
            users = connection.execute(
                "SELECT * FROM qubrid_jobs WHERE dataset_id = ?", (dataset_id,)
            ).fetchall()
            for user in users:
                status = JOB_LIFECYCLE.state(user, now).status
                if status in ACTIVE_STATUSES:
                    raise ProviderError(
                        409,
                        f"Dataset {dataset_id!r} is in use by fine-tuning job {user['id']!r} "
                        f"({status}); cancel the job or wait for it to finish, then delete "
                        "the dataset.",
                        "dataset_in_use",
                    )
            connection.execute("DELETE FROM qubrid_datasets WHERE id = ?", (dataset_id,))
        return Response(status_code=204)

    async def list_models(request: Request) -> Response:
        if not models_route_present(ctx):
            # models_route=missing: a deployment without the models list.
            raise ProviderError(404, "Not Found", "not_found")
        now, integers = ctx.now(), integer_ids(ctx)
        cutoff = ctx.list_lag_cutoff(request)
        condition, params = completed_job_filter(now)
        if cutoff is not None:
            condition += " AND updated_sim <= ?"
            params = (*params, cutoff)
        rows = store.query(
            f"SELECT * FROM qubrid_jobs WHERE {condition} {NEWEST_FIRST}",  # noqa: S608
            params,
        )
        models = []
        for row in rows:
            state = JOB_LIFECYCLE.state(row, now)
            if state.status != COMPLETED or (cutoff is not None and state.since > cutoff):
                continue
            models.append(model_json(row, state.since, now, integers=integers))
        return JSONResponse(list_body(ctx, models))

    async def delete_model(request: Request) -> Response:
        model_id = request.path_params["model_id"]
        not_found = ProviderError(
            404, f"Fine-tuned model {model_id!r} was not found.", "model_not_found"
        )
        with store.transaction() as connection:
            row = connection.execute(
                "SELECT * FROM qubrid_jobs WHERE fine_tuned_model = ?", (model_id,)
            ).fetchone()
            now = ctx.now()
            if row is None or JOB_LIFECYCLE.state(row, now).status != COMPLETED:
                raise not_found
            if row["model_deleted_sim"] is not None:
                raise ProviderError(
                    404, f"Fine-tuned model {model_id!r} has been deleted.", "model_not_found"
                )
            connection.execute(
                "UPDATE qubrid_jobs SET model_deleted_sim = ?, updated_sim = ? WHERE id = ?",
                (now, now, row["id"]),
            )
        return Response(status_code=204)

    return [
        Route("/fine-tuning/jobs", list_jobs, methods=["GET"]),
        Route("/fine-tuning/jobs", create_job, methods=["POST"]),
        Route("/fine-tuning/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/fine-tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
        Route("/fine-tuning/datasets", list_datasets, methods=["GET"]),
        Route("/fine-tuning/datasets", upload_dataset, methods=["POST"]),
        Route("/fine-tuning/datasets/{dataset_id}", get_dataset, methods=["GET"]),
        Route("/fine-tuning/datasets/{dataset_id}", delete_dataset, methods=["DELETE"]),
        Route("/fine-tuning/models", list_models, methods=["GET"]),
        Route("/fine-tuning/models/{model_id}", delete_model, methods=["DELETE"]),
    ]


def _job_not_found(job_id: str) -> ProviderError:
    return ProviderError(404, f"Fine-tuning job {job_id!r} was not found.", "job_not_found")


def _dataset_not_found(dataset_id: str) -> ProviderError:
    return ProviderError(404, f"Dataset {dataset_id!r} was not found.", "dataset_not_found")


def cancel(ctx: SandboxContext, job_id: str) -> sqlite3.Row | None:
    """Cancel a queued or running job; a finished job is left as it is. ``None``: no such job."""
    with ctx.store.transaction() as connection:
        row: sqlite3.Row | None = connection.execute(
            "SELECT * FROM qubrid_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            return None
        now = ctx.now()
        if JOB_LIFECYCLE.state(row, now).status in ACTIVE_STATUSES:
            connection.execute(
                "UPDATE qubrid_jobs SET final_status = ?, final_sim = ?, updated_sim = ? "
                "WHERE id = ?",
                (CANCELLED, now, now, job_id),
            )
            row = connection.execute("SELECT * FROM qubrid_jobs WHERE id = ?", (job_id,)).fetchone()
        return row


_CREDITS_KEY = "credits"


def _spend_credit(connection: sqlite3.Connection) -> None:
    """Spend one credit when the account has a balance; unlimited when none is set."""
    row = connection.execute(
        "SELECT value FROM qubrid_account WHERE key = ?", (_CREDITS_KEY,)
    ).fetchone()
    if row is None:
        return
    balance = int(row["value"])
    if balance < 1:
        raise ProviderError(
            402,
            "Insufficient credits to start a fine-tuning job; add credits to your account.",
            "insufficient_credits",
        )
    connection.execute(
        "UPDATE qubrid_account SET value = ? WHERE key = ?", (str(balance - 1), _CREDITS_KEY)
    )


def _credits_from(raw: bytes) -> int | None:
    usage = 'send {"credits": N} (a whole number >= 0, or null for unlimited)'
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"the body is not valid JSON ({error}); {usage}") from error
    if not isinstance(body, dict) or "credits" not in body:
        raise ValueError(usage)
    value = body["credits"]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{usage}; got {value!r}")
    return value


def _control_routes(ctx: SandboxContext) -> list[BaseRoute]:
    async def credits(request: Request) -> Response:
        if request.method == "PUT":
            try:
                value = _credits_from(await request.body())
            except ValueError as error:
                return JSONResponse({"error": str(error)}, 400)
            if value is None:
                ctx.store.execute("DELETE FROM qubrid_account WHERE key = ?", (_CREDITS_KEY,))
            else:
                ctx.store.execute(
                    "INSERT INTO qubrid_account (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (_CREDITS_KEY, str(value)),
                )
        row = ctx.store.query_one("SELECT value FROM qubrid_account WHERE key = ?", (_CREDITS_KEY,))
        return JSONResponse({"credits": None if row is None else int(row["value"])})

    async def cancel_out_of_band(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        row = cancel(ctx, job_id)
        if row is None:
            return JSONResponse({"error": f"qubrid has no job {job_id!r}"}, 404)
        return JSONResponse(job_json(row, ctx.now(), integers=integer_ids(ctx)))

    return [
        Route("/credits", credits, methods=["GET", "PUT"]),
        Route("/jobs/{job_id}/cancel", cancel_out_of_band, methods=["POST"]),
    ]


PROVIDER = Provider(
    name="qubrid",
    mount="/qubrid/api/v1",
    auth=ApiKeyAuth(
        scheme="bearer",
        default_key="sandbox-qubrid-key",
        unauthorized_message="Invalid or missing API key. Send 'Authorization: Bearer <key>'.",
        unauthorized_code="invalid_api_key",
    ),
    error_body=error_body,
    schema=SCHEMA_SQL,
    routes=_routes,
    kinds={
        "jobs": ObjectKind(table="qubrid_jobs", lifecycle=JOB_LIFECYCLE),
        "datasets": ObjectKind(table="qubrid_datasets"),
    },
    seed=seed_jobs,
    control_routes=_control_routes,
    base_url_env=("QUBRID_BASE_URL",),
    api_key_env=("QUBRID_API_KEY",),
    # The (unverified) OpenAPI documents 201 for a job create (create_status.py).
    variants={**VARIANTS, "create_status": create_status_values(201)},
)
