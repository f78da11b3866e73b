"""The Cohere adapter: fine-tuned models and datasets (CONTRACTS.md §C) behind ``ProviderClient``.

Requests, under the base URL (``https://api.cohere.com``) with ``Authorization: Bearer <key>``:

- observe: ``GET /v1/finetuning/finetuned-models`` page by page (``page_size=100``, stepping
  down to the documented default of 50 when a server refuses it with 400; then ``page_token``
  until ``next_page_token`` is empty or absent), and ``GET /v1/datasets`` by ``limit`` and
  ``offset`` until a short page. A model's ``settings.dataset_id`` is mapped to the dataset's
  ``name``, which is the marker we wrote; the id's own form is undocumented and never parsed.
  A dataset no longer listed (Cohere deletes them after 30 days, or the list lags behind an
  upload) leaves the model's dataset unknown: not drift. A missing list (``{}``, proto3 JSON
  for an empty one) is an empty list;
- upload: ``POST /v1/datasets?name=<marker>&type=<dataset type>`` with the file streamed from
  disk in the multipart field ``data`` (``start_upload``). Cohere then validates it
  asynchronously; a job may use it once it is ``validated`` (``failed``, ``skipped`` or
  ``cancelled`` end it with the validation error). An apply waits for many at once
  (``DatasetValidator``): ``validations`` reads ``GET /v1/datasets`` once for all of them,
  from shortly before the oldest (``after``: the newest dataset the last observation listed, or
  the oldest reused one's ``created_at``), and ``validation_of`` looks at one alone with ``GET
  /v1/datasets/{id}`` (for a dataset a lagging list does not show yet). ``upload_dataset``
  uploads and then looks at that one dataset every ``validation_poll`` seconds until it has
  validated, bounded in time. A 404, a missing status or ``unknown`` on the first looks is a
  dataset not settled yet, looked at again a bounded number of times before it counts;
- create: ``POST /v1/finetuning/finetuned-models`` with ``name`` and ``settings`` (base model,
  whose optional ``name`` is left out when the spec gives none, dataset id, hyperparameters,
  and W&B with the key from ``WANDB_API_KEY`` when the spec sets ``wandb``);
- delete: ``DELETE /v1/finetuning/finetuned-models/{id}`` (irreversible; the ``JobDeleter``
  capability). Cohere has no access setting.

Cohere deprecated its fine-tuning API on 2025-09-15; the adapter keeps full support. When the
service refuses it (``deprecation.py``), every call ends in one ``CohereDeprecatedError``: the
list makes the observation refused (``ProviderObservation.refused``) with its message, so the
plan says it once and blocks every Cohere change, and after a first refusal no further
fine-tuning request is sent. Errors answer
``{"message": ...}``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from reconciler.config import DEFAULT_LIST_TIMEOUT, ProviderSettings
from reconciler.core.observed import (
    Health,
    JobOutputs,
    ObservedJob,
    ProviderObservation,
    RemoteDataset,
)
from reconciler.core.plan import Change, Upload
from reconciler.core.spec import DesiredJob, Provider
from reconciler.naming import split_remote_name
from reconciler.providers.base import (
    OutcomeUnknownError,
    PermanentError,
    ProviderError,
    RetryableError,
    Validated,
    Validation,
)
from reconciler.providers.cohere.deprecation import CohereDeprecatedError, deprecation_refusal
from reconciler.providers.cohere.profile import (
    CHAT,
    COHERE,
    TYPE_BY_SUFFIX,
    TYPES_BY_BASE_TYPE,
    WANDB_KEY,
    CohereOptions,
    cohere_health,
    parse_cohere_dataset_name,
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

# A ready model is called for inference as "<id>-ft" (CO-DOC chat-starting-the-training).
INFERENCE_ID_SUFFIX = "-ft"

KEY_VARIABLES = COHERE.key_variables_text
MODELS_PATH = "/v1/finetuning/finetuned-models"
DATASETS_PATH = "/v1/datasets"
# Page sizes to ask for, largest first: 100, a common cap of page_size/page_token APIs, then
# the documented default (0 means 50), which every server takes. A 400 steps down.
PAGE_SIZES = (100, 50)
MAX_PAGES = 10_000
VALIDATION_TIMEOUT_SECONDS = 1800.0
# The official SDK sends a 409 again twice (CO-SDK ``core/http_client.py::_should_retry``).
SDK_CONFLICT_RETRIES = 2
VALIDATION_FAILED = frozenset({"failed", "skipped", "cancelled"})
VALIDATING = frozenset({"queued", "processing"})
USABLE_STATUSES = VALIDATING | {"validated"}
# A new dataset may not be readable yet (404), or show no status or ``unknown`` (proto3 JSON's
# zero value) before validation starts: that many looks, at the poll interval, before it counts.
UNSETTLED_LOOKS = 10
# How far before the oldest dataset waited for a validation list begins (``after`` is
# exclusive): a dataset made at the very instant of the bound is still on the list. No more:
# datasets made in bulk (an import, a seeded account) may be a fraction of a second apart.
LIST_MARGIN = timedelta(milliseconds=1)

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
        self.validation_poll = poll if poll_seconds is None else poll_seconds
        self.validation_timeout = validation_timeout
        # The newest dataset the last complete observation listed (Cohere's clock): datasets
        # uploaded after it are on a list that begins there. Each upload keeps the bound of
        # its moment (a later observation moves the bound past it): by dataset id, until it
        # is seen settled.
        self._listed_until: datetime | None = None
        self._bounds: dict[str, datetime | None] = {}
        self._refused: CohereDeprecatedError | None = None
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
            deadline = Deadline.after(self._list_timeout, "list_timeout")
            models = self._list_models(deadline)
            datasets = self._list_datasets(deadline)
            times = [d.created_at for d in datasets.values() if d.created_at is not None]
            self._listed_until = max(times, default=None)
        except CohereDeprecatedError as error:
            # The service refuses fine-tuning: one message for the whole provider, said once.
            return ProviderObservation(
                "cohere", complete=False, error=str(error), refused=error.message
            )
        except ProviderError as error:
            return ProviderObservation("cohere", complete=False, error=str(error))
        return ProviderObservation(
            "cohere", jobs=parse_models(models, datasets), datasets=tuple(datasets.values())
        )

    def _send(
        self,
        build: Any,
        *,
        what: str,
        idempotent: bool,
        job: str | None = None,
        listing_models: bool = False,
        uploading: bool = False,
        **options: Any,
    ) -> httpx.Response:
        """``ProviderHttp.send``, with Cohere's deprecation refusal told apart: once refused,
        nothing more is sent and every call raises that one ``CohereDeprecatedError``."""
        if self._refused is not None:
            raise self._refused
        try:
            return self._http.send(build, what=what, idempotent=idempotent, job=job, **options)
        except ProviderError as error:
            refused = deprecation_refusal(error, listing_models=listing_models, uploading=uploading)
            if refused is None:
                raise
            self._refused = refused
            raise refused from None

    def _list_models(self, deadline: Deadline) -> list[Mapping[str, Any]]:
        models: dict[str, Mapping[str, Any]] = {}
        token = ""
        seen_tokens: set[str] = set()
        sizes = list(PAGE_SIZES)
        page_number = 0
        while page_number < MAX_PAGES:
            page_number += 1
            what = f"listing fine-tuned models (page {page_number})"
            params = {"page_size": str(sizes[0]), "order_by": "created_at"}
            if token:
                params["page_token"] = token

            def build(params: dict[str, str] = params) -> httpx.Request:
                return self._http.client.build_request("GET", MODELS_PATH, params=params)

            try:
                response = self._send(
                    build, what=what, idempotent=True, deadline=deadline, listing_models=True
                )
            except PermanentError as error:
                if not _page_size_refused(error) or len(sizes) == 1:
                    raise
                # A server with a smaller cap: ask for this page again, smaller.
                sizes.pop(0)
                page_number -= 1
                continue
            page = read_json(response, "cohere", what, None)
            if not isinstance(page, Mapping):
                raise PermanentError("cohere", f"{what}: the answer is not a JSON object")
            # proto3 JSON leaves an empty list (and an empty token) out: `{}` is no models.
            items = page.get("finetuned_models", [])
            if not isinstance(items, list):
                raise PermanentError("cohere", f"{what}: finetuned_models is not a list")
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

    def _list_datasets(self, deadline: Deadline) -> dict[str, RemoteDataset]:
        """Every listed dataset by id, with the marker its name carries."""
        return {dataset.remote_id: dataset for _, dataset in self._dataset_items(deadline)}

    def _dataset_items(
        self, deadline: Deadline | None, after: datetime | None = None
    ) -> list[tuple[Mapping[str, Any], RemoteDataset]]:
        """The listed datasets (made after ``after``, when given), by ``limit`` and ``offset``
        until a short page, each once: as listed, and as parsed."""
        items_by_id: dict[str, tuple[Mapping[str, Any], RemoteDataset]] = {}
        sizes = list(PAGE_SIZES)
        offset = 0
        for page_number in range(1, MAX_PAGES + 1):
            what = f"listing datasets (page {page_number})"
            params = {"limit": str(sizes[0]), "offset": str(offset)}
            if after is not None:
                params["after"] = after.isoformat().replace("+00:00", "Z")

            def build(params: dict[str, str] = params) -> httpx.Request:
                return self._http.client.build_request("GET", DATASETS_PATH, params=params)

            try:
                response = self._send(build, what=what, idempotent=True, deadline=deadline)
            except PermanentError as error:
                if not _page_size_refused(error) or len(sizes) == 1:
                    raise
                sizes.pop(0)
                continue
            page = read_json(response, "cohere", what, None)
            if not isinstance(page, Mapping):
                raise PermanentError("cohere", f"{what}: the answer is not a JSON object")
            items = page.get("datasets", [])
            if not isinstance(items, list):
                raise PermanentError("cohere", f"{what}: datasets is not a list")
            new = 0
            for item in items:
                dataset = parse_dataset(item)
                if dataset is None:
                    raise PermanentError("cohere", f"{what}: an entry has no id or name")
                if dataset.remote_id not in items_by_id:
                    new += 1
                    items_by_id[dataset.remote_id] = (item, dataset)
            if len(items) < sizes[0]:
                return list(items_by_id.values())
            if new == 0:
                # A full page of datasets already seen: the server ignores `offset`.
                raise PermanentError(
                    "cohere", f"{what}: the same datasets came back again; the list is not paged"
                )
            offset += len(items)
        raise PermanentError("cohere", f"listing datasets: more than {MAX_PAGES} pages")

    # Validation ---------------------------------------------------------------------------

    def validations(
        self, dataset_ids: Collection[str], *, since: datetime | None = None
    ) -> Mapping[str, Validation]:
        wanted = set(dataset_ids)
        # Reused datasets were made at ``since`` at the latest; uploads of this client after
        # the bound of their moment. A dataset of neither kind: the whole list.
        bounds = [self._bounds.get(i, since) for i in wanted]
        known = [bound for bound in bounds if bound is not None]
        after = _list_start(min(known)) if known and len(known) == len(bounds) else None
        deadline = Deadline.after(self._list_timeout, "list_timeout")
        shown = {
            dataset.remote_id: validation_of_item(item)
            for item, dataset in self._dataset_items(deadline, after)
            if dataset.remote_id in wanted
        }
        for dataset_id, validation in shown.items():
            if validation.state in (Validated.VALIDATED, Validated.FAILED):
                self._bounds.pop(dataset_id, None)
        return shown

    def validation_of(self, dataset_id: str) -> Validation | None:
        what = f"validating dataset {dataset_id}"
        response = self._send(
            lambda: self._http.client.build_request(
                "GET", f"{DATASETS_PATH}/{path_segment(dataset_id)}"
            ),
            what=what,
            idempotent=True,
            passthrough=(404,),
        )
        if response.status_code == 404:
            return None
        body = read_json(response, "cohere", what, None)
        dataset = body.get("dataset") if isinstance(body, Mapping) else None
        if not isinstance(dataset, Mapping):
            raise PermanentError("cohere", f"{what}: the answer has no dataset")
        return validation_of_item(dataset)

    # Upload -------------------------------------------------------------------------------

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload ``upload`` as dataset ``upload.remote_name`` and wait until Cohere has
        validated it; returns its id."""
        dataset_id = self.start_upload(upload, desired)
        self._wait_until_validated(dataset_id, desired.spec.name if desired else None)
        return dataset_id

    def start_upload(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload ``upload`` as dataset ``upload.remote_name``; returns its id at once, while
        Cohere validates it."""
        job = desired.spec.name if desired else None
        bound = self._listed_until  # before the upload: the dataset is made after it
        dataset_type = dataset_type_for(upload, desired)
        what = "uploading the dataset"
        content_type = CONTENT_TYPES.get(upload.path.suffix.lower(), "application/octet-stream")
        with planned_file("cohere", upload, what=what, job=job) as handle:
            # httpx streams the file object in blocks, from the start on every attempt.
            response = self._send(
                lambda: self._http.client.build_request(
                    "POST",
                    "/v1/datasets",
                    params={"name": upload.remote_name, "type": dataset_type},
                    files={"data": (upload.file_name, handle, content_type)},
                ),
                what=what,
                job=job,
                idempotent=False,
                uploading=True,
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
        self._bounds[dataset_id] = bound
        return dataset_id

    def _wait_until_validated(self, dataset_id: str, job: str | None) -> None:
        what = f"validating dataset {dataset_id}"
        deadline = time.monotonic() + self.validation_timeout
        looks = 0
        while True:
            looks += 1
            response = self._send(
                lambda: self._http.client.build_request(
                    "GET", f"{DATASETS_PATH}/{path_segment(dataset_id)}"
                ),
                what=what,
                job=job,
                idempotent=True,
                passthrough=(404,),
            )
            status: str | None
            if response.status_code == 404:
                dataset, status = None, "not found"
            else:
                body = read_json(response, "cohere", what, job)
                dataset = body.get("dataset") if isinstance(body, Mapping) else None
                if not isinstance(dataset, Mapping):
                    raise PermanentError("cohere", f"{what}: the answer has no dataset", job=job)
                found = dataset.get("validation_status")
                status = found if isinstance(found, str) and found else None
            if status == "validated":
                return
            if status in (None, "unknown", "not found"):
                # Not settled yet (a replica behind the upload, validation not begun): look
                # again a few times; past that, it is Cohere's answer.
                if looks >= UNSETTLED_LOOKS:
                    shown = status or "no validation_status"
                    raise PermanentError(
                        "cohere",
                        f"{what}: Cohere still shows {shown} after {looks} looks; the upload"
                        " did not take: run again to upload it anew",
                        job=job,
                    )
            elif status in VALIDATION_FAILED:
                assert isinstance(dataset, Mapping)
                reason = text_or_none(dataset.get("validation_error")) or "no reason given"
                raise PermanentError(
                    "cohere",
                    f"{what}: Cohere did not accept the dataset ({status}: {reason}); fix the"
                    " file and run again",
                    job=job,
                )
            if time.monotonic() + self.validation_poll > deadline:
                raise RetryableError(
                    "cohere",
                    f"{what}: still {status or 'unsettled'} after {self.validation_timeout:.0f} s;"
                    " run again later",
                    job=job,
                )
            self._http.pause(self.validation_poll)

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
        response = self._send(
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
        self._send(
            lambda: self._http.client.build_request("DELETE", path),
            what=f"deleting fine-tuned model {target}",
            job=change.name,
            idempotent=True,
            passthrough=(404,),
        )

    def close(self) -> None:
        self._http.close()


def _list_start(bound: datetime) -> datetime | None:
    """Where a list of the datasets made after ``bound`` begins; ``None`` (the whole list)
    for a bound so early (a listed date of the year 1) that no moment comes before it."""
    try:
        return bound - LIST_MARGIN
    except OverflowError:
        return None


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
    base_model: dict[str, Any] = {"base_type": spec.base_type or "BASE_TYPE_CHAT"}
    if spec.base_model:
        # Optional: left out, Cohere trains its default for the base type; never sent empty.
        base_model["name"] = spec.base_model
    settings: dict[str, Any] = {"base_model": base_model, "dataset_id": dataset_id}
    if spec.parameters:
        settings["hyperparameters"] = dict(spec.parameters)
    if spec.wandb is not None and wandb_key is not None:
        settings["wandb"] = {**dict(spec.wandb), "api_key": wandb_key}
    return {"name": desired.remote_name, "settings": settings}


def _page_size_refused(error: PermanentError) -> bool:
    """Whether ``error`` is a 400 that a smaller page might not get (any 400 to a list: the
    only parameters we vary are the page's)."""
    return error.status == 400


def parse_dataset(item: Any) -> RemoteDataset | None:
    """A listed ``Dataset``, with the marker its name carries; None without id or name."""
    if not isinstance(item, Mapping):
        return None
    dataset_id, name = text_or_none(item.get("id")), text_or_none(item.get("name"))
    if not dataset_id or name is None:
        return None
    status = item.get("validation_status")
    return RemoteDataset(
        provider="cohere",
        remote_id=dataset_id,
        name=name,
        marker=parse_cohere_dataset_name(name),
        created_at=parse_timestamp(item.get("created_at")),
        # A validated dataset trains, and so will one still validating (a job on it waits);
        # a failed or skipped one is uploaded afresh.
        usable=status in USABLE_STATUSES,
        validating=status in VALIDATING,
    )


def validation_of_item(dataset: Mapping[str, Any]) -> Validation:
    """Where a listed or looked-at ``Dataset``'s validation stands."""
    found = dataset.get("validation_status")
    status = found if isinstance(found, str) and found else None
    if status == "validated":
        return Validation(Validated.VALIDATED)
    if status in VALIDATING:
        return Validation(Validated.PENDING)
    if status in VALIDATION_FAILED:
        reason = text_or_none(dataset.get("validation_error")) or "no reason given"
        return Validation(Validated.FAILED, f"{status}: {reason}")
    # No status or ``unknown`` (proto3's zero value): not begun, or not known yet.
    return Validation(Validated.UNSETTLED)


def parse_models(
    items: list[Mapping[str, Any]], datasets: Mapping[str, RemoteDataset]
) -> tuple[ObservedJob, ...]:
    """Fine-tuned models as the plan sees them (oldest first, as listed). A model's dataset
    is known through ``datasets`` (by id); one not listed is unknown (``dataset_ref`` None)."""
    jobs = []
    for index, item in enumerate(items):
        settings = item.get("settings")
        settings = settings if isinstance(settings, Mapping) else {}
        base_model = settings.get("base_model")
        base_model = base_model if isinstance(base_model, Mapping) else {}
        dataset = datasets.get(text_or_none(settings.get("dataset_id")) or "")
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
                dataset_ref=dataset.remote_id if dataset else None,
                marker=dataset.marker if dataset else None,
                model_id=str(item["id"]),
                base_model=text_or_none(base_model.get("name")),
                base_type=text_or_none(base_model.get("base_type")),
                # ObservedJob keeps project and entity only: the key never enters a plan.
                wandb={k: str(v) for k, v in wandb.items() if isinstance(v, str)}
                if isinstance(wandb, Mapping)
                else None,
                parameters=dict(parameters) if isinstance(parameters, Mapping) else None,
                outputs=cohere_outputs(str(item["id"]), status),
            )
        )
    return tuple(jobs)


def cohere_outputs(model_id: str, status: str) -> JobOutputs | None:
    """A ready model's inference id: ``<id>-ft`` (CO-DOC, chat-starting-the-training); none
    before it is ready, when no call could use it."""
    if cohere_health(status) is not Health.HEALTHY:
        return None
    return JobOutputs(model_id=f"{model_id}{INFERENCE_ID_SUFFIX}")
