"""The Cohere adapter: fine-tuned models and datasets (CONTRACTS.md §C) behind ``ProviderClient``.

Requests, under the base URL (``https://api.cohere.com``) with ``Authorization: Bearer <key>``:

- observe: ``GET /v1/finetuning/finetuned-models`` page by page (``page_size=1000``, the
  documented "maximum number of results": the server may return fewer; then ``page_token``
  until ``next_page_token`` is empty). No dataset list: a model's ``settings.dataset_id`` is
  the slug of the dataset's name plus six characters, and our dataset names are markers
  already in slug form, so the marker is read from the id itself. The price is that a dataset
  uploaded by a run whose create then failed is not reused: the next run uploads it again
  (Cohere deletes datasets after 30 days);
- upload: ``POST /v1/datasets?name=<marker>&type=<dataset type>`` with the file streamed from
  disk in the multipart field ``data``, then ``GET /v1/datasets/{id}`` every few seconds until
  it is ``validated`` (``failed``, ``skipped``, ``unknown`` or ``cancelled`` end it with the
  validation error), bounded in time;
- create: ``POST /v1/finetuning/finetuned-models`` with ``name`` and ``settings`` (base model,
  dataset id, hyperparameters, and W&B with the key from ``WANDB_API_KEY`` when the spec sets
  ``wandb``);
- delete: ``DELETE /v1/finetuning/finetuned-models/{id}`` (irreversible; the ``JobDeleter``
  capability). Cohere has no access setting.

Cohere deprecated its fine-tuning API on 2025-09-15; the adapter keeps full support. Errors
answer ``{"message": ...}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.config import DEFAULT_LIST_TIMEOUT, ProviderSettings
from reconciler.core.observed import ObservedJob, ProviderObservation
from reconciler.core.plan import Change, Upload
from reconciler.core.spec import DesiredJob, Provider
from reconciler.naming import may_carry_marker, split_remote_name
from reconciler.providers.base import (
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RetryableError,
)
from reconciler.providers.cohere.profile import (
    CHAT,
    COHERE,
    TYPE_BY_SUFFIX,
    TYPES_BY_BASE_TYPE,
    WANDB_KEY,
    CohereOptions,
    cohere_health,
    parse_cohere_dataset_id,
)
from reconciler.providers.http import (
    DEFAULT_TIMEOUT,
    SUCCESS,
    Deadline,
    RetryPolicy,
    bearer,
    parse_timestamp,
    path_segment,
    planned_file,
    provider_api,
    read_json,
    read_write_answer,
    text_or_none,
)
from reconciler.redact import register_secret

KEY_VARIABLES = COHERE.key_variables_text
MODELS_PATH = "/v1/finetuning/finetuned-models"
PAGE_SIZE = 1000
MAX_PAGES = 10_000
VALIDATION_TIMEOUT_SECONDS = 1800.0
# The official SDK sends a 409 again twice (CO-SDK ``core/http_client.py::_should_retry``).
SDK_CONFLICT_RETRIES = 2
VALIDATION_FAILED = frozenset({"failed", "skipped", "unknown", "cancelled"})

CONTENT_TYPES: Mapping[str, str] = {".jsonl": "application/jsonl", ".csv": "text/csv"}


def cohere_message(body: Any) -> str | None:
    """Cohere's ``Error``: ``{"message": ...}``."""
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    return None


class CohereClient:
    """``ProviderClient`` and ``JobDeleter`` for Cohere. ``transport`` replaces the network
    (tests)."""

    name: Provider = "cohere"

    def __init__(
        self,
        settings: ProviderSettings[CohereOptions],
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        poll_seconds: float | None = None,
        validation_timeout: float = VALIDATION_TIMEOUT_SECONDS,
        list_timeout: float = DEFAULT_LIST_TIMEOUT,
    ) -> None:
        self._list_timeout = list_timeout
        self._wandb_key = settings.service_keys.get(WANDB_KEY)
        register_secret(self._wandb_key.reveal() if self._wandb_key else None)
        poll = settings.options.validation_poll
        self._poll_seconds = poll if poll_seconds is None else poll_seconds
        self._validation_timeout = validation_timeout
        self._http = provider_api(
            "cohere",
            settings,
            key_header=bearer,
            message_of=cohere_message,
            key_variables=KEY_VARIABLES,
            transport=transport,
            retry=retry,
            timeout=timeout or DEFAULT_TIMEOUT,
            conflict_retries=SDK_CONFLICT_RETRIES,
        )

    # Observe ------------------------------------------------------------------------------

    def observe(self) -> ProviderObservation:
        try:
            jobs = parse_models(self._list_models())
        except ProviderError as error:
            return ProviderObservation("cohere", complete=False, error=str(error))
        return ProviderObservation("cohere", jobs=jobs)

    def _list_models(self) -> list[Mapping[str, Any]]:
        models: dict[str, Mapping[str, Any]] = {}
        token = ""
        seen_tokens: set[str] = set()
        deadline = Deadline.after(self._list_timeout, "list_timeout")
        for page_number in range(1, MAX_PAGES + 1):
            what = f"listing fine-tuned models (page {page_number})"
            params = {"page_size": str(PAGE_SIZE), "order_by": "created_at"}
            if token:
                params["page_token"] = token

            def build(params: dict[str, str] = params) -> httpx.Request:
                return self._http.client.build_request("GET", MODELS_PATH, params=params)

            response = self._http.send(build, what=what, idempotent=True, deadline=deadline)
            page = read_json(response, "cohere", what, None)
            items = page.get("finetuned_models") if isinstance(page, Mapping) else None
            if not isinstance(items, list):
                raise PermanentError("cohere", f"{what}: the answer has no finetuned_models list")
            for item in items:
                if not isinstance(item, Mapping) or not text_or_none(item.get("id")):
                    raise PermanentError("cohere", f"{what}: an entry has no id")
                models.setdefault(item["id"], item)
            token = page.get("next_page_token") or ""
            if not isinstance(token, str):
                raise PermanentError("cohere", f"{what}: next_page_token is not a string")
            if not token:
                return list(models.values())
            if token in seen_tokens:
                raise PermanentError("cohere", f"{what}: the same page token came back twice")
            seen_tokens.add(token)
        raise PermanentError("cohere", f"listing fine-tuned models: more than {MAX_PAGES} pages")

    # Upload -------------------------------------------------------------------------------

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload ``upload`` as dataset ``upload.remote_name`` and wait until Cohere has
        validated it; returns its id."""
        job = desired.spec.name if desired else None
        dataset_type = dataset_type_for(upload, desired)
        what = "uploading the dataset"
        content_type = CONTENT_TYPES.get(upload.path.suffix.lower(), "application/octet-stream")
        with planned_file("cohere", upload, what=what, job=job) as handle:
            # httpx streams the file object in blocks, from the start on every attempt.
            response = self._http.send(
                lambda: self._http.client.build_request(
                    "POST",
                    "/v1/datasets",
                    params={"name": upload.remote_name, "type": dataset_type},
                    files={"data": (upload.file_name, handle, content_type)},
                ),
                what=what,
                job=job,
                idempotent=False,
                expect=SUCCESS,
            )
        body = read_write_answer(response, "cohere", what, job)
        dataset_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(dataset_id, str) or not dataset_id:
            raise OutcomeUnknownError(
                "cohere",
                f"{what}: Cohere accepted it but its answer has no id; list again before retrying",
                job=job,
            )
        self._wait_until_validated(dataset_id, job)
        return dataset_id

    def _wait_until_validated(self, dataset_id: str, job: str | None) -> None:
        what = f"validating dataset {dataset_id}"
        deadline = time.monotonic() + self._validation_timeout
        while True:
            response = self._http.send(
                lambda: self._http.client.build_request(
                    "GET", f"/v1/datasets/{path_segment(dataset_id)}"
                ),
                what=what,
                job=job,
                idempotent=True,
            )
            body = read_json(response, "cohere", what, job)
            dataset = body.get("dataset") if isinstance(body, Mapping) else None
            status = dataset.get("validation_status") if isinstance(dataset, Mapping) else None
            if not isinstance(status, str):
                raise PermanentError("cohere", f"{what}: the answer has no validation_status")
            if status == "validated":
                return
            if status in VALIDATION_FAILED:
                assert isinstance(dataset, Mapping)
                reason = text_or_none(dataset.get("validation_error")) or "no reason given"
                raise PermanentError(
                    "cohere",
                    f"{what}: Cohere did not accept the dataset ({status}: {reason}); fix the"
                    " file and run again",
                    job=job,
                )
            if time.monotonic() + self._poll_seconds > deadline:
                raise RetryableError(
                    "cohere",
                    f"{what}: still {status} after {self._validation_timeout:.0f} s; run again"
                    " later",
                    job=job,
                )
            self._http.pause(self._poll_seconds)

    # Create -------------------------------------------------------------------------------

    def create(self, desired: DesiredJob, dataset_ref: str) -> str:
        job = desired.spec.name
        what = "creating the fine-tuned model"
        wandb_key = self._wandb_key.reveal() if self._wandb_key else None
        if desired.spec.wandb is not None and wandb_key is None:
            raise PermanentError(
                "cohere",
                f"{what}: the spec sets wandb but no W&B key is set; set WANDB_API_KEY",
                job=job,
            )
        payload = create_body(desired, dataset_ref, wandb_key)
        response = self._http.send(
            lambda: self._http.client.build_request("POST", MODELS_PATH, json=payload),
            what=what,
            job=job,
            idempotent=False,
            expect=SUCCESS,
        )
        body = read_write_answer(response, "cohere", what, job)
        model = body.get("finetuned_model") if isinstance(body, Mapping) else None
        model_id = model.get("id") if isinstance(model, Mapping) else None
        if not isinstance(model_id, str) or not model_id:
            raise OutcomeUnknownError(
                "cohere",
                f"{what}: Cohere accepted it but its answer has no id; list again before retrying",
                job=job,
            )
        return model_id

    # Delete -------------------------------------------------------------------------------

    def delete(self, change: Change) -> None:
        target = change.target_id
        if target is None:
            raise PermanentError(
                "cohere", "nothing to delete: the change names no target", job=change.name
            )
        # A model already gone (an earlier attempt whose answer was lost) is what was wanted.
        path = f"{MODELS_PATH}/{path_segment(target)}"
        self._http.send(
            lambda: self._http.client.build_request("DELETE", path),
            what=f"deleting fine-tuned model {target}",
            job=change.name,
            idempotent=True,
            passthrough=(404,),
        )

    def close(self) -> None:
        self._http.close()


def dataset_type_for(upload: Upload, desired: DesiredJob | None) -> str:
    """The Datasets API ``type``: the spec's, else its base type's, else the file's (chat when
    nothing says)."""
    if desired is not None:
        if desired.spec.dataset_type:
            return desired.spec.dataset_type
        by_base = TYPES_BY_BASE_TYPE.get(desired.spec.base_type or "")
        if by_base:
            return by_base[0]
    return TYPE_BY_SUFFIX.get(upload.path.suffix.lower(), CHAT)


def create_body(desired: DesiredJob, dataset_id: str, wandb_key: str | None) -> dict[str, Any]:
    """The JSON of ``POST /v1/finetuning/finetuned-models``."""
    spec = desired.spec
    settings: dict[str, Any] = {
        "base_model": {"base_type": spec.base_type or "BASE_TYPE_CHAT", "name": spec.base_model},
        "dataset_id": dataset_id,
    }
    if spec.parameters:
        settings["hyperparameters"] = dict(spec.parameters)
    if spec.wandb is not None and wandb_key is not None:
        settings["wandb"] = {**dict(spec.wandb), "api_key": wandb_key}
    return {"name": desired.remote_name, "settings": settings}


def parse_models(items: list[Mapping[str, Any]]) -> tuple[ObservedJob, ...]:
    """Fine-tuned models as the plan sees them (oldest first, as listed)."""
    jobs = []
    for index, item in enumerate(items):
        settings = item.get("settings")
        settings = settings if isinstance(settings, Mapping) else {}
        base_model = settings.get("base_model")
        base_model = base_model if isinstance(base_model, Mapping) else {}
        dataset_id = text_or_none(settings.get("dataset_id"))
        wandb = settings.get("wandb")
        parameters = settings.get("hyperparameters")
        status = text_or_none(item.get("status")) or ""
        remote_name = text_or_none(item.get("name"))
        owner, name = split_remote_name(remote_name) if remote_name else (None, None)
        jobs.append(
            ObservedJob(
                provider="cohere",
                remote_id=str(item["id"]),
                name=name,
                owner=owner,
                raw_status=status,
                health=cohere_health(status),
                created_at=parse_timestamp(item.get("created_at")),
                sequence=index + 1,
                dataset_ref=dataset_id,
                marker=parse_cohere_dataset_id(dataset_id)
                if dataset_id and may_carry_marker(dataset_id)
                else None,
                model_id=str(item["id"]),
                base_model=text_or_none(base_model.get("name")),
                base_type=text_or_none(base_model.get("base_type")),
                # ObservedJob keeps project and entity only: the key never enters a plan.
                wandb={k: str(v) for k, v in wandb.items() if isinstance(v, str)}
                if isinstance(wandb, Mapping)
                else None,
                parameters=dict(parameters) if isinstance(parameters, Mapping) else None,
            )
        )
    return tuple(jobs)
