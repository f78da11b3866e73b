"""The Segmind fine-tuning emulator (CONTRACTS.md §A), mounted at ``/segmind``.

Endpoints, all under ``/segmind/finetune/request`` and authenticated by ``x-api-key``:

    POST /submit                    JSON body -> {"status", "request_id" or "finetune_id", "name"}
    GET  /details                   JSON body on GET {"request_id": id} -> {"finetune": {...}}
    GET  /list                      plain JSON array, newest first (variant ``order``), no paging
    GET  /upload/pre-signed-url     JSON body on GET {"name", "extension"?, "public"?}
    PUT  /access-update             form fields request_id, segmind_public "True"/"False"
                                    (multipart or urlencoded); 200 with an empty body
    GET  /file/download             form body on GET cloud_storage_url=... -> text/plain URL

Quirks kept on purpose: QWEN jobs are identified by ``request_id`` (with a distinct
``finetune_id``), the Flux models by ``id`` and ``finetune_id`` (equal unless the ``flux_ids``
variant says otherwise); ``details`` always takes the key ``request_id``, whose value is the
``finetune_id`` for the Flux models (S1, S2), as is access-update's. QWEN and FLUX submits
without ``machine_type`` or ``train_type`` are refused: the SDK requires both and the QWEN and
FLUX documents send them; the FAST_FLUX and FLUX_PRO documents leave them out, so there they
stay optional. There is no delete. Errors use the SDK fixtures' ``{"error": CODE, "detail":
message}`` (the real body is undocumented). Datasets uploaded to the sandbox's object store are
inspected: a ZIP with only subfolders fails with Segmind's "Looks like empty dataset" message,
and a FAST_FLUX job on a private upload fails with "Download failed" (FAST_FLUX needs a public
file). Assumptions are listed in docs/sandbox.md.

Variants (the documents' open questions, docs/providers.md):

- ``order``: ``newest-first`` (default) or ``oldest-first``, the order of ``/list`` (no order is
  documented); every item carries ``created_ts`` either way.
- ``flux_ids``: ``same`` (default: a Flux job's ``id`` is its ``finetune_id``) or ``distinct``
  (they differ; details and access-update still take the ``finetune_id``, as documented, and
  refuse the ``id``).
- ``acl_header``: ``by-model`` (default: an upload URL is signed for ``x-amz-acl: public-read``
  exactly when it was asked for public) or ``signed`` (every upload URL is signed public-read,
  and says so in its query, ``X-Amz-SignedHeaders`` and ``x-amz-acl``: the client must read the
  header from the URL, not choose it by base model).
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import uuid
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile_sandbox.clock import iso_z
from reconcile_sandbox.context import SandboxContext
from reconcile_sandbox.create_status import create_status_values, created
from reconcile_sandbox.lifecycle import LIFECYCLE_COLUMNS, Lifecycle, Stage
from reconcile_sandbox.provider import ApiKeyAuth, ObjectKind, Provider, ProviderError

LIFECYCLE = Lifecycle(
    stages=(
        Stage("REQUESTED", 30.0),
        Stage("DATA_PROCESSING", 60.0),
        Stage("TRAINING_INITIATED", 600.0),
        Stage("TRAINING_COMPLETED", 30.0),
        Stage("INFERENCE_QUEUED", 30.0),
        Stage("DEPLOYING", 60.0),
    ),
    done="AVAILABLE",
    failed="FAILED",
)

BASE_MODELS = ("QWEN", "FAST_FLUX", "FLUX_PRO", "FLUX")
MACHINE_TYPES = ("NVIDIA_H100", "NVIDIA_A100_40GB", "NVIDIA_L40S")
MACHINES_BY_MODEL: Mapping[str, tuple[str, ...]] = {
    "QWEN": ("NVIDIA_H100",),
    "FLUX": MACHINE_TYPES,
    "FAST_FLUX": MACHINE_TYPES,
    "FLUX_PRO": MACHINE_TYPES,
}
FLUX_PRO_THEMES = ("CHARACTER", "PRODUCT", "STYLE", "GENERAL")
FLUX_PRO_PRIORITIES = ("SPEED", "QUALITY", "HIGH_RES_ONLY")
# The SDK requires machine_type and train_type on every submit, and the QWEN (S0) and FLUX
# (DOC-FLUX) documents send them; the FAST_FLUX (S1) and FLUX_PRO (S2) ones leave them out.
REQUIRED_SUBMIT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "QWEN": ("machine_type", "train_type"),
    "FLUX": ("machine_type", "train_type"),
}
SIGNED_ACL = "public-read"

UPLOAD_BUCKET = "finetune-pipeline"
PRIVATE_WEIGHTS_BUCKET = "segmind-sd-models"
PUBLIC_WEIGHTS_BUCKET = "segmind-fast-flux-weights"
USER_ID = "sandbox-user"
UPLOAD_URL_SECONDS = 3600
DOWNLOAD_URL_SECONDS = 3600

EMPTY_DATASET_MESSAGE = (
    "Looks like empty dataset. Please do not create subfolders, only zip the images"
)
NOT_A_ZIP_MESSAGE = "Dataset is not a valid ZIP file"
DOWNLOAD_FAILED_MESSAGE = "Download failed"
SECONDS_INTO_DATA_PROCESSING = 10.0
"""A dataset the pipeline cannot use fails this long after its data processing starts."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS segmind_jobs (
    id TEXT PRIMARY KEY,
    finetune_id TEXT NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    base_model TEXT NOT NULL,
    data_source_path TEXT NOT NULL,
    instance_prompt TEXT NOT NULL,
    trigger_word TEXT,
    theme TEXT,
    train_type TEXT,
    machine_type TEXT,
    segmind_public INTEGER NOT NULL DEFAULT 0,
    advance_parameters TEXT NOT NULL DEFAULT '{{}}',
    {LIFECYCLE_COLUMNS}
);
CREATE INDEX IF NOT EXISTS segmind_jobs_by_creation ON segmind_jobs (created_sim, id);
CREATE INDEX IF NOT EXISTS segmind_jobs_by_finetune_id ON segmind_jobs (finetune_id);
"""

_INSERT = (
    "INSERT INTO segmind_jobs (id, finetune_id, name, slug, base_model, data_source_path, "
    "instance_prompt, trigger_word, theme, train_type, machine_type, segmind_public, "
    "advance_parameters, created_sim, updated_sim, failed_sim, error_message) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_LIST_NEWEST = "SELECT * FROM segmind_jobs ORDER BY created_sim DESC, id"
_LIST_OLDEST = "SELECT * FROM segmind_jobs ORDER BY created_sim ASC, id"
_LIST_LAGGED_NEWEST = (
    "SELECT * FROM segmind_jobs WHERE updated_sim <= ? ORDER BY created_sim DESC, id"
)
_LIST_LAGGED_OLDEST = (
    "SELECT * FROM segmind_jobs WHERE updated_sim <= ? ORDER BY created_sim ASC, id"
)


def error_body(status: int, message: str, code: str | None) -> dict[str, Any]:
    """Segmind's error body is undocumented; this is the SDK test fixtures' shape."""
    return {"error": code or "ERROR", "detail": message}


def _bad_request(message: str) -> ProviderError:
    return ProviderError(400, message, "BAD_REQUEST")


# Submit validation --------------------------------------------------------------------------


def _require_text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _bad_request(f"'{name}' is required and must be a non-empty string")
    return value


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad_request(f"'{name}' must be a string; got {value!r}")
    return value


def _one_of(value: object, allowed: tuple[str, ...], field: str, model: str | None = None) -> None:
    if value not in allowed:
        scope = f" for {model}" if model else ""
        raise _bad_request(f"'{field}' must be one of {', '.join(allowed)}{scope}; got {value!r}")


Check = Callable[[object], bool]


def _is_int(minimum: int) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _is_positive_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


def _is_bool(v: object) -> bool:
    return isinstance(v, bool)


# (field, check, what it must be) per base model; other keys pass (additionalProperties: true).
_PARAMETER_RULES: Mapping[str, tuple[tuple[str, Check, str], ...]] = {
    "QWEN": (
        ("steps", _is_int(1), "an integer of at least 1"),
        ("auto_caption", _is_bool, "a boolean"),
        ("learning_rate", _is_positive_number, "a number above 0"),
    ),
    "FAST_FLUX": (
        ("steps", _is_int(1), "an integer of at least 1"),
        ("face_crop", _is_bool, "a boolean"),
    ),
    "FLUX_PRO": (
        ("iterations", _is_int(100), "an integer of at least 100"),
        ("learning_rate", _is_positive_number, "a number above 0"),
        ("priority", lambda v: v in FLUX_PRO_PRIORITIES, "one of SPEED, QUALITY, HIGH_RES_ONLY"),
        ("captioning", _is_bool, "a boolean"),
        ("finetune_type", lambda v: v in ("FULL", "LORA"), "one of FULL, LORA"),
        ("lora_rank", lambda v: v in (16, 32) and not isinstance(v, bool), "16 or 32"),
    ),
    "FLUX": (
        ("steps", _is_int(1), "an integer of at least 1"),
        ("learning_rate", _is_positive_number, "a number above 0"),
        ("lora_rank", _is_int(1), "an integer of at least 1"),
        ("batch_size", _is_int(1), "an integer of at least 1"),
        ("auto_caption", _is_bool, "a boolean"),
    ),
}


def _advance_parameters(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    given = body.get("advance_parameters", {})
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise _bad_request("'advance_parameters' must be a JSON object")
    for name, check, expected in _PARAMETER_RULES[model]:
        if name in given and not check(given[name]):
            raise _bad_request(
                f"'advance_parameters.{name}' must be {expected} for {model}; got {given[name]!r}"
            )
    parameters = dict(given)
    if model == "FLUX_PRO":
        # Flux Pro fills its documented defaults (S2); what a spec did not set is not drift.
        parameters.setdefault("iterations", 300)
        parameters.setdefault("finetune_type", "FULL")
        parameters.setdefault(
            "learning_rate", 1e-5 if parameters["finetune_type"] == "FULL" else 1e-4
        )
        parameters.setdefault("priority", "QUALITY")
        parameters.setdefault("captioning", True)
        parameters.setdefault("lora_rank", 32)
    return parameters


def _validate_submit(body: Mapping[str, Any]) -> dict[str, Any]:
    """The job's columns from a submit body, or a 400 naming the field."""
    name = _require_text(body, "name")
    model = body.get("base_model")
    _one_of(model, BASE_MODELS, "base_model")
    assert isinstance(model, str)
    data_source_path = _require_text(body, "data_source_path")
    if not re.match(r"^https?://[^/\s]+", data_source_path):
        raise _bad_request(
            "'data_source_path' must be an http(s) URL of a ZIP: a public URL, or the s3_url "
            "of a file uploaded through /upload/pre-signed-url"
        )
    instance_prompt = _require_text(body, "instance_prompt")
    trigger_word = _optional_text(body, "trigger_word")
    if trigger_word is None and model == "FLUX_PRO":
        trigger_word = "TOK"
    theme = _optional_text(body, "theme")
    if model == "FLUX_PRO" and theme is not None:
        _one_of(theme, FLUX_PRO_THEMES, "theme", model)
    train_type = _optional_text(body, "train_type")
    if train_type is not None:
        _one_of(train_type, ("LORA",), "train_type")
    machine_type = _optional_text(body, "machine_type")
    for field in REQUIRED_SUBMIT_FIELDS.get(model, ()):
        if body.get(field) is None:
            raise _bad_request(f"'{field}' is required for {model}")
    if machine_type is not None:
        _one_of(machine_type, MACHINES_BY_MODEL[model], "machine_type", model)
    public = body.get("segmind_public", False)
    if not isinstance(public, bool):
        raise _bad_request(f"'segmind_public' must be true or false; got {public!r}")
    return {
        "name": name,
        "base_model": model,
        "data_source_path": data_source_path,
        "instance_prompt": instance_prompt,
        "trigger_word": trigger_word,
        "theme": theme,
        "train_type": train_type,
        "machine_type": machine_type,
        "segmind_public": public,
        "advance_parameters": _advance_parameters(body, model),
    }


def _dataset_problem(ctx: SandboxContext, url: str, model: str) -> str | None:
    """Why the training pipeline will fail on this dataset (None if fine or not ours to see).

    Raises 400 when the URL points into the sandbox's object store at nothing.
    """
    located = ctx.objects.locate(url)
    if located is None:
        return None  # an outside URL: the sandbox never fetches it
    bucket, key = located
    stored = ctx.objects.head(bucket, key)
    if stored is None:
        raise _bad_request(
            "'data_source_path' points at no uploaded file; PUT the ZIP to the presigned_url "
            "first, then submit its s3_url"
        )
    if model == "FAST_FLUX" and not stored.public:
        return DOWNLOAD_FAILED_MESSAGE
    body = ctx.objects.read(bucket, key) or b""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return NOT_A_ZIP_MESSAGE
    files_at_root = [n for n in names if "/" not in n.rstrip("/") and not n.endswith("/")]
    return None if files_at_root else EMPTY_DATASET_MESSAGE


# Rendering ----------------------------------------------------------------------------------


def _identity(row: sqlite3.Row | Mapping[str, Any]) -> dict[str, Any]:
    key = "request_id" if row["base_model"] == "QWEN" else "id"
    return {key: row["id"]}


def _weights(row: sqlite3.Row | Mapping[str, Any]) -> tuple[str, str]:
    """(bucket, key) of a job's trained weights."""
    if row["base_model"] == "FAST_FLUX":
        return PUBLIC_WEIGHTS_BUCKET, f"{row['id']}.safetensors"
    return (
        PRIVATE_WEIGHTS_BUCKET,
        f"finetune/finetuned_models/{row['id']}/{row['slug']}.safetensors",
    )


def _weights_body(job_id: str) -> bytes:
    return f"sandbox safetensors for fine-tune {job_id}\n".encode()


class _View:
    """Renders rows as Segmind shows them, at one moment and for one client origin."""

    def __init__(self, ctx: SandboxContext, origin: str) -> None:
        self.ctx = ctx
        self.origin = origin
        self.now = ctx.now()

    def _common(self, row: sqlite3.Row) -> tuple[dict[str, Any], Any, str | None]:
        state = LIFECYCLE.state(row, self.now)
        cloud_storage_url = None
        if state.reached("TRAINING_COMPLETED"):
            bucket, key = _weights(row)
            cloud_storage_url = self.ctx.objects.url(self.origin, bucket, key)
        return _identity(row), state, cloud_storage_url

    def details(self, row: sqlite3.Row) -> dict[str, Any]:
        identity, state, cloud_storage_url = self._common(row)
        return {
            **identity,
            "finetune_id": row["finetune_id"],
            "name": row["name"],
            "data_source_path": row["data_source_path"],
            "instance_prompt": row["instance_prompt"],
            "status": state.status,
            "source_type": "AWS_S3",
            "base_model": row["base_model"],
            "slug": row["slug"],
            "public_model": bool(row["segmind_public"]),
            "error_message": state.error_message,
            "cloud_storage_url": cloud_storage_url,
            "created_ts": iso_z(row["created_sim"]),
            "updated_ts": iso_z(max(float(row["updated_sim"]), state.since)),
        }

    def list_item(self, row: sqlite3.Row) -> dict[str, Any]:
        identity, state, cloud_storage_url = self._common(row)
        parameters = json.loads(row["advance_parameters"])
        # The documented list sample echoes prompt and theme inside advance_parameters.
        parameters.setdefault("prompt", row["instance_prompt"])
        if row["theme"] is not None:
            parameters.setdefault("theme", row["theme"])
        return {
            **identity,
            "data_source_path": row["data_source_path"],
            "name": row["name"],
            "status": state.status,
            "error_message": state.error_message,
            "segmind_model_path": None,
            "advance_parameters": parameters,
            "segmind_public_model": bool(row["segmind_public"]),
            "train_type": row["train_type"],
            "source_type": "AWS_S3",
            "base_model": row["base_model"],
            "theme": row["theme"],
            "cloud_storage_url": cloud_storage_url,
            "finetune_id": row["finetune_id"],
            "model_information": {},
            "created_ts": iso_z(row["created_sim"]),
            "updated_ts": iso_z(max(float(row["updated_sim"]), state.since)),
        }


# Routes -------------------------------------------------------------------------------------


def _slug(name: str, job_id: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "finetune"
    return f"{base}-{job_id[:8]}"


async def _form(request: Request, fields: tuple[str, ...]) -> FormData:
    """A form body (multipart or urlencoded, on any method), or a 400 naming what is missing."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise _bad_request(
            f"send {', '.join(fields)} as form fields (multipart/form-data or "
            f"application/x-www-form-urlencoded); got content type {content_type or 'none'!r}"
        )
    form = await request.form()
    missing = [name for name in fields if not isinstance(form.get(name), str) or not form.get(name)]
    if missing:
        raise _bad_request(f"missing form field(s): {', '.join(missing)}")
    return form


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    def job_row(job_id: str) -> sqlite3.Row:
        # Keyed as documented: a QWEN job by its request_id, a Flux job by its finetune_id
        # (which is its id too, unless the flux_ids variant makes them differ).
        row = ctx.store.query_one(
            "SELECT * FROM segmind_jobs WHERE (base_model = 'QWEN' AND id = ?)"
            " OR (base_model != 'QWEN' AND finetune_id = ?)",
            (job_id, job_id),
        )
        if row is None:
            raise ProviderError(404, f"No fine-tune request with id {job_id!r}", "NOT_FOUND")
        return row

    async def submit(request: Request) -> Response:
        job = _validate_submit(await ctx.json_object(request))
        job_id = str(uuid.uuid4())
        model = job["base_model"]
        finetune_id = _finetune_id(ctx, model, job_id)
        problem = _dataset_problem(ctx, job["data_source_path"], model)
        now = ctx.now()
        fails_at = LIFECYCLE.offset_to_reach("DATA_PROCESSING") + SECONDS_INTO_DATA_PROCESSING
        failed_sim = now + fails_at if problem else None
        slug = _slug(job["name"], job_id)
        row = {"id": job_id, "base_model": model, "slug": slug}
        bucket, key = _weights(row)
        values = (
            job_id,
            finetune_id,
            job["name"],
            slug,
            model,
            job["data_source_path"],
            job["instance_prompt"],
            job["trigger_word"],
            job["theme"],
            job["train_type"],
            job["machine_type"],
            int(job["segmind_public"]),
            json.dumps(job["advance_parameters"]),
            now,
            now,
            failed_sim,
            problem,
        )
        # The job and its (future) weights appear together or not at all.
        with ctx.store.transaction() as connection:
            connection.execute(_INSERT, values)
            if problem is None:
                ctx.objects.put(
                    bucket,
                    key,
                    _weights_body(job_id),
                    owner="segmind",
                    public=bucket == PUBLIC_WEIGHTS_BUCKET,
                    content_type="application/octet-stream",
                )
        if model == "QWEN":
            answer = {"status": "REQUESTED", "request_id": job_id, "name": job["name"]}
        else:
            answer = {"status": "REQUESTED", "finetune_id": finetune_id, "name": job["name"]}
        return created(ctx, answer)

    async def details(request: Request) -> Response:
        body = await ctx.json_object(request)
        job_id = body.get("request_id")
        if not isinstance(job_id, str) or not job_id:
            raise _bad_request(
                'send the job\'s id as JSON {"request_id": "..."} in the GET body '
                "(the finetune_id for FAST_FLUX, FLUX_PRO and FLUX)"
            )
        row = job_row(job_id)
        return JSONResponse({"finetune": _View(ctx, ctx.origin(request)).details(row)})

    async def list_jobs(request: Request) -> Response:
        cutoff = ctx.list_lag_cutoff(request)
        # No order is documented: newest first by default, oldest first as a variant.
        oldest_first = ctx.variant("order") == "oldest-first"
        if cutoff is None:
            rows = ctx.store.query(_LIST_OLDEST if oldest_first else _LIST_NEWEST)
        else:
            rows = ctx.store.query(
                _LIST_LAGGED_OLDEST if oldest_first else _LIST_LAGGED_NEWEST, (cutoff,)
            )
        view = _View(ctx, ctx.origin(request))
        return JSONResponse([view.list_item(row) for row in rows])

    async def presigned_url(request: Request) -> Response:
        body = await ctx.json_object(request)
        name = _require_text(body, "name")
        extension = body.get("extension", ".zip")
        if not isinstance(extension, str) or not re.fullmatch(r"\.?[A-Za-z0-9]{1,10}", extension):
            raise _bad_request(f"'extension' must look like \".zip\"; got {extension!r}")
        if not extension.startswith("."):
            extension = "." + extension
        public = body.get("public", False)
        if not isinstance(public, bool):
            raise _bad_request(f"'public' must be true or false; got {public!r}")
        base = name[: -len(extension)] if name.lower().endswith(extension.lower()) else name
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-") or "dataset"
        key = f"uploads/{USER_ID}/{uuid.uuid4()}-{safe}{extension}"
        origin = ctx.origin(request)
        signed = ctx.variant("acl_header") == "signed"
        presigned = ctx.objects.presign_put(
            origin, UPLOAD_BUCKET, key, public=public or signed, expires_in=UPLOAD_URL_SECONDS
        )
        if signed:
            # The server chose the ACL: the URL names the header's value next to its signature.
            presigned += f"&x-amz-acl={SIGNED_ACL}"
        return JSONResponse(
            {"presigned_url": presigned, "s3_url": ctx.objects.url(origin, UPLOAD_BUCKET, key)}
        )

    async def access_update(request: Request) -> Response:
        form = await _form(request, ("request_id", "segmind_public"))
        public = form["segmind_public"]
        _one_of(public, ("True", "False"), "segmind_public")
        row = job_row(str(form["request_id"]))
        ctx.store.execute(
            "UPDATE segmind_jobs SET segmind_public = ?, updated_sim = ? WHERE id = ?",
            (int(public == "True"), ctx.now(), row["id"]),
        )
        return Response(status_code=200)

    async def file_download(request: Request) -> Response:
        form = await _form(request, ("cloud_storage_url",))
        url = str(form["cloud_storage_url"])
        located = ctx.objects.locate(url)
        job_id = _job_of_weights(located) if located else None
        row = (
            ctx.store.query_one("SELECT * FROM segmind_jobs WHERE id = ?", (job_id,))
            if job_id
            else None
        )
        if row is None or located != _weights(row):
            raise ProviderError(404, "No trained model file at this cloud_storage_url", "NOT_FOUND")
        if not LIFECYCLE.state(row, ctx.now()).reached("TRAINING_COMPLETED"):
            raise ProviderError(404, "The model file is not available yet", "NOT_FOUND")
        bucket, key = located
        signed = ctx.objects.presign_get(
            ctx.origin(request), bucket, key, expires_in=DOWNLOAD_URL_SECONDS
        )
        return PlainTextResponse(signed)

    prefix = "/finetune/request"
    return [
        Route(f"{prefix}/submit", submit, methods=["POST"]),
        Route(f"{prefix}/details", details, methods=["GET"]),
        Route(f"{prefix}/list", list_jobs, methods=["GET"]),
        Route(f"{prefix}/upload/pre-signed-url", presigned_url, methods=["GET"]),
        Route(f"{prefix}/access-update", access_update, methods=["PUT"]),
        Route(f"{prefix}/file/download", file_download, methods=["GET"]),
    ]


def _finetune_id(ctx: SandboxContext, model: str, job_id: str) -> str:
    """A new job's ``finetune_id``: its own for QWEN; a Flux job's ``id`` unless the
    ``flux_ids`` variant makes them differ."""
    if model == "QWEN" or ctx.variant("flux_ids") == "distinct":
        return str(uuid.uuid4())
    return job_id


def _job_of_weights(located: tuple[str, str]) -> str | None:
    bucket, key = located
    if bucket == PUBLIC_WEIGHTS_BUCKET and key.endswith(".safetensors"):
        return key.removesuffix(".safetensors")
    match = re.fullmatch(r"finetune/finetuned_models/([^/]+)/[^/]+\.safetensors", key)
    if bucket == PRIVATE_WEIGHTS_BUCKET and match:
        return match.group(1)
    return None


# Seeding ------------------------------------------------------------------------------------

SEED_FAILURE_MESSAGES = (
    "GPU overloaded, try with smaller dataset",
    "Download failed",
    "Internal Server Error",
)


def seed(ctx: SandboxContext, count: int, options: Mapping[str, Any]) -> int:
    """Insert ``count`` existing jobs, created over the past ``spread_seconds`` (default 30 days).

    Options: ``prefix`` (name prefix, default "seed"), ``spread_seconds``, ``fail_every`` (every
    Nth job failed, default 20; 0 for none). Base models cycle QWEN, FAST_FLUX, FLUX_PRO, FLUX;
    jobs older than the whole lifecycle are AVAILABLE.
    """
    prefix = str(options.get("prefix", "seed"))
    spread = options.get("spread_seconds", 30 * 24 * 3600)
    fail_every = options.get("fail_every", 20)
    if not isinstance(spread, int | float) or spread < 0:
        raise ValueError("'spread_seconds' must be a number of at least 0")
    if not isinstance(fail_every, int) or fail_every < 0:
        raise ValueError("'fail_every' must be a whole number (0 for no failed jobs)")
    now = ctx.now()
    rows: list[tuple[Any, ...]] = []
    weights: list[tuple[str, str, bytes, bool, str | None]] = []
    for index in range(count):
        job_id = str(uuid.uuid4())
        model = BASE_MODELS[index % len(BASE_MODELS)]
        name = f"{prefix}-{index:06d}"
        slug = _slug(name, job_id)
        created = now - spread * (count - index) / count
        failed = fail_every > 0 and index % fail_every == fail_every - 1
        failed_sim = created + LIFECYCLE.offset_to_reach("TRAINING_INITIATED") if failed else None
        message = SEED_FAILURE_MESSAGES[index % len(SEED_FAILURE_MESSAGES)] if failed else None
        finetune_id = _finetune_id(ctx, model, job_id)
        parameters = _advance_parameters({}, model)
        rows.append(
            (
                job_id,
                finetune_id,
                name,
                slug,
                model,
                f"https://datasets.example.invalid/{prefix}/{index}.zip",
                f"photo of TOK, seeded subject {index}",
                "TOK",
                "GENERAL" if model == "FLUX_PRO" else None,
                "LORA",
                "NVIDIA_H100",
                index % 2,
                json.dumps(parameters),
                created,
                created,
                failed_sim,
                message,
            )
        )
        if not failed:
            bucket, key = _weights({"id": job_id, "base_model": model, "slug": slug})
            weights.append(
                (bucket, key, _weights_body(job_id), bucket == PUBLIC_WEIGHTS_BUCKET, None)
            )
    ctx.store.executemany(_INSERT, rows)
    ctx.objects.put_many(weights, owner="segmind")
    return count


PROVIDER = Provider(
    name="segmind",
    mount="/segmind",
    auth=ApiKeyAuth(
        scheme="header",
        header="x-api-key",
        default_key="sandbox-segmind-key",
        unauthorized_message="Invalid or missing API key (send it in the x-api-key header)",
        unauthorized_code="UNAUTHORIZED",
    ),
    error_body=error_body,
    schema=SCHEMA,
    routes=routes,
    kinds={"jobs": ObjectKind(table="segmind_jobs", lifecycle=LIFECYCLE)},
    seed=seed,
    base_url_env=("SEGMIND_BASE_URL",),
    api_key_env=("SEGMIND_API_KEY",),
    buckets=(UPLOAD_BUCKET, PRIVATE_WEIGHTS_BUCKET, PUBLIC_WEIGHTS_BUCKET),
    variants={
        "order": ("newest-first", "oldest-first"),
        "flux_ids": ("same", "distinct"),
        "acl_header": ("by-model", "signed"),
        # SEG-OAS documents 200 for a submit (create_status.py).
        "create_status": create_status_values(200),
    },
)
