"""The Qubrid adapter: its fine-tuning API (CONTRACTS.md §B) behind ``ProviderClient``.

Requests, under the base URL (``.../api/v1``) with ``Authorization: Bearer <key>``:

- observe: ``GET /fine-tuning/jobs`` page by page (``limit``, ``offset``; ``paging.py`` says
  how far and when the list cannot be trusted), one ``GET /fine-tuning/datasets`` (a job has no
  name: the spec name travels in its dataset's name, as our marker) and one
  ``GET /fine-tuning/models`` (a deleted model still leaves its job ``completed``; only the
  model list shows it gone, so without it a pruned job would be pruned again on every run; a
  404 there leaves the jobs observed without it, with a warning);
- upload: multipart ``POST /fine-tuning/datasets``, the CSV streamed from disk in the ``file``
  field and the marker as ``name``; answers 201 with the dataset;
- create: ``POST /fine-tuning/jobs`` (201), with the marker as ``suffix``;
- delete: ``POST /fine-tuning/jobs/{id}/cancel`` or ``DELETE /fine-tuning/models/{id}`` (204),
  as the change's ``delete_method`` says (the ``JobDeleter`` capability). Qubrid has no access
  setting.

Qubrid documents its error body as ``{"error": {"message", "type", "code"}}``.

The document is unverified (CONTRACTS.md §B), so answers are read leniently where that costs no
safety: a list may be ``{"data": [...]}`` or a plain array, ids may be strings or integers
(kept as text), and every field the schemas do not require may be absent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from reconciler.config import DEFAULT_LIST_TIMEOUT, ProviderSettings
from reconciler.core.observed import JobOutputs, ObservedJob, ProviderObservation, RemoteDataset
from reconciler.core.plan import Change, DeleteMethod, Upload
from reconciler.core.spec import DesiredJob, Provider
from reconciler.naming import may_carry_marker
from reconciler.providers.base import OutcomeUnknownError, PermanentError, ProviderError
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
from reconciler.providers.qubrid.paging import (
    MAX_PAGES,
    PAGE_LIMITS,
    JobPage,
    data_list,
    ignored_offset_error,
    list_items,
    remote_id,
    unseen_jobs_error,
)
from reconciler.providers.qubrid.profile import (
    QUBRID,
    QubridOptions,
    parse_qubrid_dataset_name,
    qubrid_health,
    qubrid_suffix,
)

KEY_VARIABLES = QUBRID.key_variables_text
logger = logging.getLogger("reconciler.providers")
# Job pages in flight at once after the first (the dataset and model lists come besides).
PAGES_IN_FLIGHT = 4
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


class QubridClient:
    """``ProviderClient`` and ``JobDeleter`` for Qubrid. ``transport`` replaces the network
    (tests)."""

    name: Provider = "qubrid"

    def __init__(
        self,
        settings: ProviderSettings[QubridOptions],
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        list_timeout: float = DEFAULT_LIST_TIMEOUT,
    ) -> None:
        self._list_timeout = list_timeout
        self._http = provider_api(
            "qubrid",
            settings,
            key_header=bearer,
            message_of=qubrid_message,
            key_variables=KEY_VARIABLES,
            transport=transport,
            retry=retry,
            timeout=timeout or DEFAULT_TIMEOUT,
        )

    def _get(
        self,
        path: str,
        what: str,
        params: Mapping[str, int] | None = None,
        deadline: Deadline | None = None,
    ) -> Any:
        response = self._http.send(
            lambda: self._http.client.build_request("GET", path, params=params),
            what=what,
            idempotent=True,
            deadline=deadline,
        )
        return read_json(response, "qubrid", what, None)

    # Observe ------------------------------------------------------------------------------

    def observe(self) -> ProviderObservation:
        # The three lists are independent. The first job page goes out first: it says how
        # many pages follow, and the others start only when it is in. The dataset and model
        # lists are requested (and read) while the job pages come in, on threads of their
        # own, so that they hold up no page.
        with (
            ThreadPoolExecutor(max_workers=3, thread_name_prefix="qubrid-list") as lists,
            ThreadPoolExecutor(
                max_workers=PAGES_IN_FLIGHT, thread_name_prefix="qubrid-page"
            ) as pages,
        ):
            deadline = Deadline.after(self._list_timeout, "list_timeout")
            first = lists.submit(self._first_page, deadline)
            datasets = lists.submit(self._list_datasets, deadline)
            models = lists.submit(self._model_statuses, deadline)
            try:
                jobs = self._list_jobs(first.result(), pages, models, deadline)
                listed = datasets.result()
            except ProviderError as error:
                return ProviderObservation("qubrid", complete=False, error=str(error))
            finally:
                # After a failure, requests not yet sent are not sent.
                lists.shutdown(cancel_futures=True)
                pages.shutdown(cancel_futures=True)
        return ProviderObservation("qubrid", jobs=jobs, datasets=listed)

    def _list_datasets(self, deadline: Deadline | None = None) -> tuple[RemoteDataset, ...]:
        return parse_datasets(
            self._get("/fine-tuning/datasets", "listing datasets", deadline=deadline)
        )

    def _model_statuses(self, deadline: Deadline | None = None) -> dict[str, str]:
        try:
            body = self._get("/fine-tuning/models", "listing fine-tuned models", deadline=deadline)
        except ProviderError as error:
            if error.status != 404:
                raise
            # Models are extra information on jobs, not the jobs themselves: without the list
            # the jobs are still observed, and the plan still safe, only less precise.
            logger.warning(
                "qubrid: GET /fine-tuning/models answered 404, so jobs are observed without "
                "their models: a completed job whose model was deleted still shows as "
                "completed (a prune may be planned again; its delete finds the model gone), "
                "and a model still deploying shows as ready"
            )
            return {}
        return model_statuses(body)

    def _page(self, offset: int, limit: int, deadline: Deadline | None = None) -> JobPage:
        """The jobs at ``offset`` (at most ``limit``) and the ``total`` Qubrid reports."""
        what = f"listing fine-tuning jobs (offset {offset})"
        params = {"limit": limit, "offset": offset}
        body = self._get("/fine-tuning/jobs", what, params, deadline)
        items, total = list_items(body, what, ("id", "dataset_id"))
        return JobPage(offset, limit, items, total)

    def _first_page(self, deadline: Deadline | None = None) -> JobPage:
        """The first page at the largest size Qubrid takes: the documented maximum, then
        smaller sizes while it answers 400 (a server whose cap is below the document's)."""
        for limit in PAGE_LIMITS[:-1]:
            try:
                return self._page(0, limit, deadline)
            except ProviderError as error:
                if error.status != 400:
                    raise
        return self._page(0, PAGE_LIMITS[-1], deadline)

    def _list_jobs(
        self,
        first: JobPage,
        pool: ThreadPoolExecutor,
        models: Future[dict[str, str]],
        deadline: Deadline,
    ) -> tuple[ObservedJob, ...]:
        """Every job, or an ``UntrustworthyListError`` when the pages do not add up to the
        whole list (``paging.py``)."""
        merged = _MergedJobs(models.result(), newest=first.total)
        merged.add(first.items)
        if first.total is None:
            self._page_to_a_short_page(first, merged, deadline)
        else:
            self._page_to_total(first, first.total, pool, merged, deadline)
        return merged.jobs()

    def _page_to_a_short_page(
        self, first: JobPage, merged: _MergedJobs, deadline: Deadline
    ) -> None:
        """Without ``total``: one page after another until one is shorter than asked."""
        page, read = first, 1
        while page.items and len(page.items) >= page.limit:
            if read >= MAX_PAGES:
                raise PermanentError(
                    "qubrid", f"listing fine-tuning jobs: still more after {MAX_PAGES} pages"
                )
            page = self._page(page.offset + len(page.items), first.limit, deadline)
            read += 1
            if page.items and not merged.add(page.items):
                raise ignored_offset_error(page, merged.count, None)

    def _page_to_total(
        self,
        first: JobPage,
        total: int,
        pool: ThreadPoolExecutor,
        merged: _MergedJobs,
        deadline: Deadline,
    ) -> None:
        """With ``total``: the other offsets a few at a time (``PAGES_IN_FLIGHT``), as many
        requests as paging one after another.

        A real provider answers each page in tens to hundreds of milliseconds, and with
        ``limit``/``offset`` the pages do not depend on each other, so waiting for them one by
        one would make observing a large account as slow as the sum of its pages. Pages are
        merged in offset order and newest first: a job created while paging shifts later pages
        by one, so entries seen twice are kept once, and a total that grew meanwhile is
        followed by the offsets it added. Each page is read into jobs as soon as it and the
        pages before it are in (with the models, which a job's health needs), so little is
        left to do when the last page comes.
        """
        counted = total  # Qubrid cannot delete jobs: all counted now must be listed
        step, read, offset = len(first.items), 1, len(first.items)
        while step and offset < total:
            if read >= MAX_PAGES:
                raise PermanentError(
                    "qubrid", f"listing fine-tuning jobs: still more after {MAX_PAGES} pages"
                )
            offsets = range(offset, total, step)[: MAX_PAGES - read]
            ended, newest_total = False, total
            pages = pool.map(lambda offset: self._page(offset, first.limit, deadline), offsets)
            for page in pages:  # in offset order
                if page.items and not merged.add(page.items):
                    raise ignored_offset_error(page, merged.count, total)
                ended = ended or not page.items
                newest_total = max(newest_total, page.total or 0)
            read += len(offsets)
            if ended:
                break  # the list ended sooner than its total said
            offset = offsets[-1] + step
            total = newest_total
        if merged.count < counted:
            raise unseen_jobs_error(merged.count, counted)

    # Upload -------------------------------------------------------------------------------

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload the CSV at ``upload.path`` as dataset ``upload.remote_name``; returns its id."""
        job = desired.spec.name if desired else None
        what = "uploading the dataset"
        with planned_file("qubrid", upload, what=what, job=job) as handle:
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
                expect=SUCCESS,
            )
        return _created_id(read_write_answer(response, "qubrid", what, job), what, job)

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
            expect=SUCCESS,
        )
        return _created_id(read_write_answer(response, "qubrid", what, job), what, job)

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
                    "POST", f"/fine-tuning/jobs/{path_segment(target)}/cancel"
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
                "DELETE", f"/fine-tuning/models/{path_segment(target)}"
            ),
            what=f"deleting fine-tuned model {target}",
            job=change.name,
            idempotent=True,
            passthrough=(404,),
        )

    def close(self) -> None:
        self._http.close()


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
    created = remote_id(body.get("id")) if isinstance(body, Mapping) else None
    if created is None:
        raise OutcomeUnknownError(
            "qubrid",
            f"{what}: Qubrid accepted it but its answer has no id; list again before retrying",
            job=job,
        )
    return created


def model_statuses(body: Any) -> dict[str, str]:
    """``GET /fine-tuning/models`` as job id (and model id) -> model status."""
    statuses: dict[str, str] = {}
    for model in data_list(body, "listing fine-tuned models"):
        if not isinstance(model, Mapping):
            continue
        status = text_or_none(model.get("status"))
        if status is None:
            continue
        for key in ("job_id", "id"):
            ident = remote_id(model.get(key))
            if ident is not None:
                statuses[ident] = status
    return statuses


class _MergedJobs:
    """Job pages merged in offset order as they come: each job once (its first listing),
    with ``sequence`` falling by one from ``newest`` (the total the first page told, so
    that the oldest job of a list that held still is 1). Without a total (``newest`` is
    ``None``) the jobs are read when the last page is in, numbered from their count."""

    def __init__(self, models: Mapping[str, str], *, newest: int | None) -> None:
        self._models = models
        self._newest = newest
        self._seen: set[str] = set()
        self._jobs: list[ObservedJob] = []
        self._unread: list[Mapping[str, Any]] = []

    @property
    def count(self) -> int:
        """How many distinct jobs the pages have brought."""
        return len(self._seen)

    def add(self, page: list[Mapping[str, Any]]) -> int:
        """Merge ``page``; returns how many of its jobs were not listed before."""
        fresh = []
        for item in page:
            job_id = str(item["id"])
            if job_id not in self._seen:
                self._seen.add(job_id)
                fresh.append(item)
        if self._newest is None:
            self._unread.extend(fresh)
        else:
            first = self._newest - len(self._jobs)
            self._jobs.extend(parse_jobs(fresh, self._models, first_sequence=first))
        return len(fresh)

    def jobs(self) -> tuple[ObservedJob, ...]:
        if self._unread:
            self._jobs.extend(parse_jobs(self._unread, self._models))
            self._unread = []
        return tuple(self._jobs)


def parse_jobs(
    items: list[Mapping[str, Any]],
    models: Mapping[str, str],
    *,
    first_sequence: int | None = None,
) -> tuple[ObservedJob, ...]:
    """Jobs as the plan sees them, newest first; ``models`` refines a completed job's health.
    The first gets ``first_sequence`` (default: as many as there are), each next one less."""
    count = len(items) if first_sequence is None else first_sequence
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
                # The model to call once trained: the job shows it when it completes.
                outputs=JobOutputs(model_id=model_id) if model_id else None,
            )
        )
    return tuple(jobs)


def parse_datasets(body: Any) -> tuple[RemoteDataset, ...]:
    """``GET /fine-tuning/datasets`` with each dataset's marker parsed from its name."""
    items, _ = list_items(body, "listing datasets")
    datasets = []
    for item in items:
        name = text_or_none(item.get("name")) or ""
        size = item.get("size_bytes")
        datasets.append(
            RemoteDataset(
                provider="qubrid",
                remote_id=str(item["id"]),
                name=name,
                marker=parse_qubrid_dataset_name(name) if may_carry_marker(name) else None,
                size_bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
                created_at=parse_timestamp(item.get("created_at")),
            )
        )
    return tuple(datasets)
