"""The Segmind adapter: its fine-tune API (CONTRACTS.md §A) behind ``ProviderClient``.

Requests, all under ``{base}/finetune/request`` with the key in ``x-api-key``:

- observe: one ``GET /list`` (a plain array, no paging, in no documented order: a name's jobs
  are ordered by their ``created_ts``, by list position, newest first, only when it is absent);
- upload: ``GET /upload/pre-signed-url`` with a JSON body on the GET, then a raw ``PUT`` of
  the zip to the ``presigned_url`` (exact ``Content-Length``, never chunked; no key; the
  ``x-amz-acl`` header exactly when the URL signed it, with the value its query names); an
  expired URL is
  replaced by a fresh one rather than retried; the result is the unsigned ``s3_url``;
- create: ``POST /submit`` (JSON: the spec's fields, plus the defaults the documents require
  for the fields it leaves out, ``SEGMIND_SUBMIT_DEFAULTS``); the id comes back as
  ``request_id`` (QWEN) or ``finetune_id`` (the Flux models), and a job is known by that id
  everywhere: details and access-update are keyed on it, and the list's ``id`` of a Flux job
  need not equal it;
- access: ``PUT /access-update`` with urlencoded form fields, ``segmind_public`` "True"/"False"
  (the ``AccessUpdater`` capability);
- delete: Segmind has none (the adapter is no ``JobDeleter``; its profile says so);
- outputs: the list shows a finished job's ``cloud_storage_url`` (the trained weights), its
  ``details`` (``GET /details``, JSON body ``{"request_id": id}``) the model's ``slug`` too:
  one request per finished job, for ``reconcile status`` only (the ``OutputsReader``
  capability). A weights URL is kept without its query: a pre-signed one carries a signature.

Which uploads are public: only FAST_FLUX's. Its documentation signs the upload URL public and its
training pipeline fetches the file without credentials; other models train from private files,
and a dataset is not made public just because the trained model is. That choice is what the
client asks for; the ``x-amz-acl`` header it then sends is the one the URL was signed for
(``acl_header``), since a header the signature does not cover, or a missing one it does, is 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx

from reconciler.config import DEFAULT_LIST_TIMEOUT, ProviderSettings
from reconciler.core.marker import Marker
from reconciler.core.observed import JobOutputs, ObservedJob, ProviderObservation
from reconciler.core.plan import Upload
from reconciler.core.spec import DesiredJob, Provider
from reconciler.datasets.files import DatasetError
from reconciler.naming import may_carry_marker, split_remote_name
from reconciler.providers.base import OutcomeUnknownError, PermanentError, ProviderError
from reconciler.providers.http import (
    DEFAULT_TIMEOUT,
    SUCCESS,
    Deadline,
    ProviderHttp,
    RetryPolicy,
    make_client,
    parse_timestamp,
    provider_api,
    read_json,
    read_write_answer,
    response_detail,
    text_or_none,
)
from reconciler.providers.segmind.profile import (
    SEGMIND,
    SEGMIND_SUBMIT_DEFAULTS,
    SegmindOptions,
    parse_segmind_dataset_url,
    segmind_health,
)
from reconciler.redact import strip_url_secrets

PREFIX = "/finetune/request"
KEY_VARIABLES = SEGMIND.key_variables_text
ZIP_CONTENT_TYPE = "application/zip"
PUBLIC_UPLOAD_MODELS = frozenset({"FAST_FLUX"})
PUBLIC_READ = "public-read"
# An expired pre-signed URL is replaced this many times before giving up.
FRESH_URL_ATTEMPTS = 3


def segmind_message(body: Any) -> str | None:
    """Segmind's error body is undocumented; its SDK reads ``error`` and ``detail``."""
    if not isinstance(body, Mapping):
        return None
    detail, error = body.get("detail"), body.get("error")
    if isinstance(detail, str) and isinstance(error, str) and detail and error:
        return f"{detail} ({error})"
    for value in (detail, error, body.get("message")):
        if isinstance(value, str) and value:
            return value
    return None


def _storage_message(body: Any) -> str | None:
    return None  # object storage answers XML; ``response_detail`` reads its <Message>


class SegmindClient:
    """``ProviderClient`` and ``AccessUpdater`` for Segmind. ``transport`` replaces the network
    (tests)."""

    name: Provider = "segmind"

    def __init__(
        self,
        settings: ProviderSettings[SegmindOptions],
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        list_timeout: float = DEFAULT_LIST_TIMEOUT,
    ) -> None:
        self._default_access = settings.options.access
        self._list_timeout = list_timeout
        self._api = provider_api(
            "segmind",
            settings,
            key_header=lambda key: {"x-api-key": key},
            message_of=segmind_message,
            key_variables=KEY_VARIABLES,
            transport=transport,
            retry=retry,
            timeout=timeout or DEFAULT_TIMEOUT,
        )
        # Pre-signed URLs carry their own credentials: this client never sends the key.
        self._storage = ProviderHttp(
            "segmind",
            make_client(transport=transport),
            message_of=_storage_message,
            key_variables=KEY_VARIABLES,
            retry=retry,
        )

    # Observe ------------------------------------------------------------------------------

    def observe(self) -> ProviderObservation:
        try:
            response = self._api.send(
                lambda: self._api.client.build_request("GET", f"{PREFIX}/list"),
                what="listing fine-tunes",
                idempotent=True,
                deadline=Deadline.after(self._list_timeout, "list_timeout"),
            )
            jobs = parse_job_list(response)
        except ProviderError as error:
            return ProviderObservation("segmind", complete=False, error=str(error))
        return ProviderObservation("segmind", jobs=jobs)

    # Upload -------------------------------------------------------------------------------

    def upload_dataset(self, upload: Upload, desired: DesiredJob | None = None) -> str:
        """Upload ``upload`` through a pre-signed URL; returns its ``s3_url``.

        ``desired`` says which model the dataset is for (FAST_FLUX needs a public file).
        """
        from reconciler.datasets.upload import upload_body  # zips: only an upload needs them

        job = desired.spec.name if desired else None
        public = desired is not None and desired.spec.base_model.upper() in PUBLIC_UPLOAD_MODELS
        try:
            body = upload_body(upload.path, upload.fingerprint)
        except DatasetError as error:
            raise PermanentError("segmind", str(error), job=job) from None
        if body.size != upload.size:
            raise PermanentError(
                "segmind",
                f"{upload.path} is {body.size} bytes now but {upload.size} when it was planned;"
                " plan again",
                job=job,
            )
        refusal = ""
        for _ in range(FRESH_URL_ATTEMPTS):
            presigned_url, s3_url = self._presigned_url(upload.file_name, public, job)
            headers = {"Content-Length": str(body.size), "Content-Type": ZIP_CONTENT_TYPE}
            acl = acl_header(presigned_url, public=public)
            if acl is not None:
                headers["x-amz-acl"] = acl

            def build(url: str = presigned_url, headers: dict[str, str] = headers) -> httpx.Request:
                return self._storage.client.build_request(
                    "PUT", url, content=body.chunks(), headers=headers
                )

            try:
                response = self._storage.send(
                    build,
                    what="uploading the dataset to its pre-signed URL",
                    job=job,
                    idempotent=True,
                    passthrough=(403,),
                )
            except DatasetError as error:
                raise PermanentError("segmind", str(error), job=job) from None
            if response.status_code != 403:
                return s3_url
            # Expired (or otherwise refused): a fresh URL, not the same one again.
            refusal = response_detail(response, _storage_message)
        raise PermanentError(
            "segmind",
            f"uploading the dataset: the storage refused {FRESH_URL_ATTEMPTS} fresh pre-signed"
            f" URLs in a row ({refusal}); check the system clock and run again",
            job=job,
            status=403,
        )

    def _presigned_url(self, file_name: str, public: bool, job: str | None) -> tuple[str, str]:
        # The Fast Flux documentation adds extension and public; the SDK sends the name only.
        payload: dict[str, Any] = {"name": file_name}
        if public:
            payload.update(extension=".zip", public=True)
        response = self._api.send(
            lambda: self._api.client.build_request(
                "GET", f"{PREFIX}/upload/pre-signed-url", json=payload
            ),
            what="asking for an upload URL",
            job=job,
            idempotent=True,
        )
        body = read_json(response, "segmind", "asking for an upload URL", job)
        presigned = body.get("presigned_url") if isinstance(body, Mapping) else None
        s3_url = body.get("s3_url") if isinstance(body, Mapping) else None
        if not isinstance(presigned, str) or not presigned:
            raise PermanentError(
                "segmind", "asking for an upload URL: the answer has no presigned_url", job=job
            )
        if not isinstance(s3_url, str) or not s3_url:
            s3_url = strip_url_secrets(presigned)
        return presigned, strip_url_secrets(s3_url)

    # Create -------------------------------------------------------------------------------

    def create(self, desired: DesiredJob, dataset_ref: str) -> str:
        payload = submit_body(desired, dataset_ref, self._default_access)
        job = desired.spec.name
        response = self._api.send(
            lambda: self._api.client.build_request("POST", f"{PREFIX}/submit", json=payload),
            what="submitting the fine-tune",
            job=job,
            idempotent=False,
            expect=SUCCESS,
        )
        body = read_write_answer(response, "segmind", "submitting the fine-tune", job)
        job_id = None
        if isinstance(body, Mapping):
            # The same preference as the list's (``_observed``): the id details are keyed on.
            job_id = body.get("request_id") or body.get("finetune_id") or body.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise OutcomeUnknownError(
                "segmind",
                "submitting the fine-tune: Segmind accepted it but its answer has no id; list"
                " again before retrying",
                job=job,
            )
        return job_id

    # Access -------------------------------------------------------------------------------

    def update_access(self, job_id: str, access: Literal["private", "public"]) -> None:
        form = {"request_id": job_id, "segmind_public": "True" if access == "public" else "False"}
        self._api.send(
            lambda: self._api.client.build_request("PUT", f"{PREFIX}/access-update", data=form),
            what=f"making fine-tune {job_id} {access}",
            idempotent=True,
        )

    # Outputs ------------------------------------------------------------------------------

    def read_outputs(self, job: ObservedJob) -> JobOutputs:
        """The slug and weights URL of finished job ``job``, from its details."""
        what = "reading the fine-tune's details"
        response = self._api.send(
            lambda: self._api.client.build_request(
                "GET", f"{PREFIX}/details", json={"request_id": job.remote_id}
            ),
            what=what,
            job=job.name,
            idempotent=True,
        )
        body = read_json(response, "segmind", what, job.name)
        details = body.get("finetune") if isinstance(body, Mapping) else None
        if not isinstance(details, Mapping):
            raise PermanentError("segmind", f"{what}: the answer has no finetune", job=job.name)
        return job_outputs(details) or JobOutputs()

    def close(self) -> None:
        self._api.close()
        self._storage.close()


def job_outputs(item: Mapping[str, Any]) -> JobOutputs | None:
    """A list entry's or details' outputs: the weights' ``cloud_storage_url`` (its query, where
    a pre-signed one carries its signature, dropped by ``JobOutputs``) and the ``slug``."""
    outputs = JobOutputs(
        weights_url=text_or_none(item.get("cloud_storage_url")),
        slug=text_or_none(item.get("slug")),
    )
    return None if outputs.empty else outputs


def submit_body(
    desired: DesiredJob,
    dataset_ref: str,
    default_access: Literal["private", "public"] | None = None,
) -> dict[str, Any]:
    """The JSON of ``POST /submit``: the fields the spec sets, and the documented default of each
    field the documents require for its base model (``SEGMIND_SUBMIT_DEFAULTS``)."""
    spec = desired.spec
    access = spec.access or default_access or "private"
    body: dict[str, Any] = {
        "name": desired.remote_name,
        "data_source_path": dataset_ref,
        "base_model": spec.base_model,
        "segmind_public": access == "public",
    }
    optional = {
        "instance_prompt": spec.instance_prompt,
        "trigger_word": spec.trigger_word,
        "theme": spec.theme,
        "train_type": spec.train_type,
        "machine_type": spec.machine_type,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    # Fields the documents require that the spec left out get the documented default.
    for key, value in SEGMIND_SUBMIT_DEFAULTS.get(spec.base_model.upper(), {}).items():
        body.setdefault(key, value)
    if spec.parameters:
        body["advance_parameters"] = dict(spec.parameters)
    return body


def parse_job_list(response: httpx.Response) -> tuple[ObservedJob, ...]:
    """The jobs of a ``GET /list`` answer. Raises ``PermanentError`` on a list it cannot read
    whole: a plan made from half a list could submit a job that exists."""
    items = read_json(response, "segmind", "listing fine-tunes", None)
    if not isinstance(items, list):
        raise PermanentError("segmind", "listing fine-tunes: the answer is not a JSON array")
    count = len(items)
    # No order is documented: a job's created_ts orders it (``ObservedJob.age_key``); the
    # position, read as newest first, only breaks ties and orders jobs without one.
    return tuple(_observed(item, sequence=count - index) for index, item in enumerate(items))


def _marker_of(source: str | None, name: str | None) -> Marker | None:
    if not source or not name or not may_carry_marker(source):
        return None
    return parse_segmind_dataset_url(source, name)


def _observed(item: Any, *, sequence: int) -> ObservedJob:
    if not isinstance(item, Mapping):
        raise PermanentError("segmind", "listing fine-tunes: an entry is not a JSON object")
    # The documents key a job on its request_id (QWEN) or its finetune_id (the Flux models);
    # a Flux job's ``id`` need not be its finetune_id, so it is the last resort.
    remote_id = item.get("request_id") or item.get("finetune_id") or item.get("id")
    if not isinstance(remote_id, str) or not remote_id:
        raise PermanentError("segmind", "listing fine-tunes: an entry has no id")
    remote_name = text_or_none(item.get("name"))
    owner, name = split_remote_name(remote_name) if remote_name else (None, None)
    status = text_or_none(item.get("status")) or ""
    source = text_or_none(item.get("data_source_path"))
    public = item.get("segmind_public_model")
    parameters = item.get("advance_parameters")
    return ObservedJob(
        provider="segmind",
        remote_id=remote_id,
        name=name,
        owner=owner,
        raw_status=status,
        health=segmind_health(status),
        created_at=parse_timestamp(item.get("created_ts")),
        sequence=sequence,
        access=("public" if public else "private") if isinstance(public, bool) else None,
        dataset_ref=source,
        marker=_marker_of(source, remote_name),
        base_model=text_or_none(item.get("base_model")),
        theme=text_or_none(item.get("theme")),
        train_type=text_or_none(item.get("train_type")),
        parameters=dict(parameters) if isinstance(parameters, Mapping) else None,
        error_message=text_or_none(item.get("error_message")),
        outputs=job_outputs(item),
    )


def acl_header(presigned_url: str, *, public: bool) -> str | None:
    """The ``x-amz-acl`` header an upload to ``presigned_url`` must send (``None``: none).

    A SigV4 URL lists the headers its signature covers in ``X-Amz-SignedHeaders``: the header
    is sent exactly when ``x-amz-acl`` is among them, with the value the query names (S3 hoists
    it there), or ``public-read``, the one value the documents show. A URL without that list
    (another signing scheme) gets the header when the upload was asked for public (FAST_FLUX).
    """
    query = {key.lower(): value for key, value in parse_qsl(urlsplit(presigned_url).query)}
    signed = query.get("x-amz-signedheaders")
    if signed is None:
        return PUBLIC_READ if public else None
    if "x-amz-acl" not in {header.strip().lower() for header in signed.split(";")}:
        return None
    return query.get("x-amz-acl") or PUBLIC_READ
