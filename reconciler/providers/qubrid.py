"""The Qubrid adapter: its fine-tuning API (CONTRACTS.md §B) behind ``ProviderClient``.

Requests, under the base URL (``.../api/v1``) with ``Authorization: Bearer <key>``:

- observe: ``GET /fine-tuning/jobs`` page by page (``limit=100``, ``offset``) until ``total``
  is reached, one ``GET /fine-tuning/datasets`` (a job has no name: the spec name travels in
  its dataset's name, as our marker) and one ``GET /fine-tuning/models`` (a deleted model still
  leaves its job ``completed``; only the model list shows it gone, so without it a pruned job
  would be pruned again on every run);
- upload: multipart ``POST /fine-tuning/datasets``, the CSV streamed from disk in the ``file``
  field and the marker as ``name``; answers 201 with the dataset;
- create: ``POST /fine-tuning/jobs`` (201), with the marker as ``suffix``;
- delete: ``POST /fine-tuning/jobs/{id}/cancel`` or ``DELETE /fine-tuning/models/{id}`` (204),
  as the change's ``delete_method`` says. Qubrid has no access setting.

Qubrid documents its error body as ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx

from reconciler.config import QubridSettings
from reconciler.health import qubrid_health
from reconciler.model import (
    Change,
    DeleteMethod,
    DesiredJob,
    ObservedJob,
    Provider,
    ProviderObservation,
    RemoteDataset,
    Upload,
)
from reconciler.naming import MARKER_INFIX, parse_qubrid_dataset_name, qubrid_suffix
from reconciler.providers.base import OutcomeUnknownError, PermanentError, ProviderError
from reconciler.providers.http import (
    ProviderHttp,
    RetryPolicy,
    make_client,
    parse_timestamp,
    read_json,
    text_or_none,
)
from reconciler.redact import register_secret

KEY_VARIABLES = "QUBRID_API_KEY"
PAGE_LIMIT = 100  # the largest page Qubrid allows
# A bound on pages, so a list whose total keeps growing cannot keep observe going forever.
MAX_PAGES = 10_000
CSV_CONTENT_TYPE = "text/csv"


def qubrid_message(body: Any) -> str | None:
    """The ``error.message`` of Qubrid's ErrorResponse (with its ``code`` when there is one)."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        message, code = error.get("message"), error.get("code")
        if isinstance(message, str) and message:
            return f"{message} ({code})" if isinstance(code, str) and code else message
    if isinstance(error, str) and error:
        return error
    message = body.get("message")
    return message if isinstance(message, str) and message else None


def _path_id(value: str) -> str:
    return quote(value, safe="")


class QubridClient:
    """``ProviderClient`` for Qubrid. ``transport`` replaces the network (tests)."""

    name: Provider = "qubrid"

    def __init__(
        self,
        settings: QubridSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        key = settings.api_key.reveal() if settings.api_key else None
        register_secret(key)
        self._http = ProviderHttp(
            "qubrid",
            make_client(
                base_url=settings.base_url,
                headers={"Authorization": f"Bearer {key}"} if key else None,
                transport=transport,
            ),
            message_of=qubrid_message,
            key_variables=KEY_VARIABLES,
            has_key=key is not None,
            retry=retry,
        )

    def _get(self, path: str, what: str, params: Mapping[str, int] | None = None) -> Any:
        response = self._http.send(
            lambda: self._http.client.build_request("GET", path, params=params),
            what=what,
            idempotent=True,
        )
        return read_json(response, "qubrid", what, None)

    # Observe ------------------------------------------------------------------------------

    def observe(self) -> ProviderObservation:
        try:
            raw_jobs = self._list_jobs()
            datasets = parse_datasets(self._get("/fine-tuning/datasets", "listing datasets"))
            models = self._get("/fine-tuning/models", "listing fine-tuned models")
            jobs = parse_jobs(raw_jobs, model_statuses(models))
        except ProviderError as error:
            return ProviderObservation("qubrid", complete=False, error=str(error))
        return ProviderObservation("qubrid", jobs=jobs, datasets=datasets)

    def _list_jobs(self) -> list[Mapping[str, Any]]:
        """Every job, one page at a time. Pages are newest first, so a job created while
        paging shifts later pages by one: entries seen twice are kept once."""
        jobs: dict[str, Mapping[str, Any]] = {}
        offset = 0
        for _ in range(MAX_PAGES):
            what = f"listing fine-tuning jobs (offset {offset})"
            page = self._get("/fine-tuning/jobs", what, {"limit": PAGE_LIMIT, "offset": offset})
            data = page.get("data") if isinstance(page, Mapping) else None
            total = page.get("total") if isinstance(page, Mapping) else None
            if not isinstance(data, list) or not isinstance(total, int):
                raise PermanentError("qubrid", f"{what}: the answer has no data list and total")
            for item in data:
                if not isinstance(item, Mapping) or not text_or_none(item.get("id")):
                    raise PermanentError("qubrid", f"{what}: an entry has no id")
                jobs.setdefault(item["id"], item)
            offset += len(data)
            if not data or offset >= total:
                return list(jobs.values())
        raise PermanentError(
            "qubrid", f"listing fine-tuning jobs: still more after {MAX_PAGES} pages"
        )

    # Upload -------------------------------------------------------------------------------

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload the CSV at ``upload.path`` as dataset ``upload.remote_name``; returns its id."""
        job = desired.spec.name if desired else None
        what = "uploading the dataset"
        try:
            handle = upload.path.open("rb")
        except OSError as error:
            raise PermanentError(
                "qubrid", f"{what}: cannot read {upload.path} ({error.strerror})", job=job
            ) from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            if size != upload.size:
                raise PermanentError(
                    "qubrid",
                    f"{what}: {upload.path} is {size} bytes now but {upload.size} when it was"
                    " planned; plan again",
                    job=job,
                )
            # httpx streams a file object in blocks (seeking back to the start on every
            # attempt) and takes its Content-Length from the file's size.
            response = self._http.send(
                lambda: self._http.client.build_request(
                    "POST",
                    "/fine-tuning/datasets",
                    data={"name": upload.remote_name},
                    files={"file": (upload.file_name, handle, CSV_CONTENT_TYPE)},
                ),
                what=what,
                job=job,
                idempotent=False,
                expect=(200, 201),
            )
        return _created_id(read_json(response, "qubrid", what, job), what, job)

    # Create -------------------------------------------------------------------------------

    def create(self, desired: DesiredJob, dataset_ref: str) -> str:
        payload = create_body(desired, dataset_ref)
        what = "creating the fine-tuning job"
        job = desired.spec.name
        response = self._http.send(
            lambda: self._http.client.build_request("POST", "/fine-tuning/jobs", json=payload),
            what=what,
            job=job,
            idempotent=False,
            expect=(200, 201),
        )
        return _created_id(read_json(response, "qubrid", what, job), what, job)

    def update_access(self, job_id: str, access: Literal["private", "public"]) -> None:
        raise PermanentError("qubrid", "Qubrid jobs have no access setting")

    # Delete -------------------------------------------------------------------------------

    def delete(self, change: Change) -> None:
        target = change.target_id
        if target is None or change.delete_method is None:
            raise PermanentError(
                "qubrid", "nothing to delete: the change names no target", job=change.name
            )
        if change.delete_method is DeleteMethod.CANCEL_JOB:
            # Cancelling a finished job leaves it as it is: safe to send again.
            self._http.send(
                lambda: self._http.client.build_request(
                    "POST", f"/fine-tuning/jobs/{_path_id(target)}/cancel"
                ),
                what=f"cancelling job {target}",
                job=change.name,
                idempotent=True,
            )
            return
        # A model already gone (deleted by an earlier attempt whose answer was lost, or in
        # the console) is what the delete wanted.
        self._http.send(
            lambda: self._http.client.build_request(
                "DELETE", f"/fine-tuning/models/{_path_id(target)}"
            ),
            what=f"deleting fine-tuned model {target}",
            job=change.name,
            idempotent=True,
            expect=(200, 204),
            passthrough=(404,),
        )

    def close(self) -> None:
        self._http.client.close()


def create_body(desired: DesiredJob, dataset_id: str) -> dict[str, Any]:
    """The JSON of ``POST /fine-tuning/jobs``: the marker as ``suffix`` so the fine-tuned
    model's name says which spec (and dataset) it came from."""
    spec = desired.spec
    body: dict[str, Any] = {
        "base_model": spec.base_model,
        "dataset_id": dataset_id,
        "task_type": spec.task_type or "qa",
        "suffix": qubrid_suffix(spec.name, desired.dataset_fingerprint),
    }
    if spec.parameters:
        body["hyperparameters"] = dict(spec.parameters)
    return body


def _created_id(body: Any, what: str, job: str | None) -> str:
    created = body.get("id") if isinstance(body, Mapping) else None
    if not isinstance(created, str) or not created:
        raise OutcomeUnknownError(
            "qubrid",
            f"{what}: Qubrid accepted it but its answer has no id; list again before retrying",
            job=job,
        )
    return created


def model_statuses(body: Any) -> dict[str, str]:
    """``GET /fine-tuning/models`` as job id (and model id) -> model status."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise PermanentError("qubrid", "listing fine-tuned models: the answer has no data list")
    statuses: dict[str, str] = {}
    for model in data:
        if not isinstance(model, Mapping):
            continue
        status = text_or_none(model.get("status"))
        if status is None:
            continue
        for key in ("job_id", "id"):
            ident = text_or_none(model.get(key))
            if ident is not None:
                statuses[ident] = status
    return statuses


def parse_jobs(
    items: list[Mapping[str, Any]], models: Mapping[str, str]
) -> tuple[ObservedJob, ...]:
    """Jobs as the plan sees them; ``models`` refines a completed job's health."""
    count = len(items)
    jobs = []
    for index, item in enumerate(items):
        job_id = str(item["id"])
        status = text_or_none(item.get("status")) or ""
        model_id = text_or_none(item.get("fine_tuned_model"))
        model_status = models.get(job_id) or (models.get(model_id) if model_id else None)
        parameters = item.get("hyperparameters")
        error = item.get("error")
        jobs.append(
            ObservedJob(
                provider="qubrid",
                remote_id=job_id,
                name=None,  # the diff takes it from the dataset's marker
                raw_status=status,
                health=qubrid_health(status, model_status),
                created_at=parse_timestamp(item.get("created_at")),
                sequence=count - index,  # newest first
                dataset_ref=text_or_none(item.get("dataset_id")),
                model_id=model_id,
                base_model=text_or_none(item.get("base_model")),
                task_type=text_or_none(item.get("task_type")),
                parameters=dict(parameters) if isinstance(parameters, Mapping) else None,
                error_message=text_or_none(error.get("message"))
                if isinstance(error, Mapping)
                else text_or_none(error),
            )
        )
    return tuple(jobs)


def parse_datasets(body: Any) -> tuple[RemoteDataset, ...]:
    """``GET /fine-tuning/datasets`` with each dataset's marker parsed from its name."""
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, list):
        raise PermanentError("qubrid", "listing datasets: the answer has no data list")
    datasets = []
    for item in data:
        if not isinstance(item, Mapping) or not text_or_none(item.get("id")):
            raise PermanentError("qubrid", "listing datasets: an entry has no id")
        name = text_or_none(item.get("name")) or ""
        size = item.get("size_bytes")
        datasets.append(
            RemoteDataset(
                provider="qubrid",
                remote_id=str(item["id"]),
                name=name,
                # Only a name with the marker's infix can carry one; most are not ours.
                marker=parse_qubrid_dataset_name(name) if MARKER_INFIX in name else None,
                size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
                created_at=parse_timestamp(item.get("created_at")),
            )
        )
    return tuple(datasets)
