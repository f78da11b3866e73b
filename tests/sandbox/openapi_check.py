"""Checks sandbox responses against the providers' OpenAPI documents.

Contract tests call :func:`provider_document` once per provider and then
``document.check(response)`` on every ``httpx.Response`` they receive: the request that produced it
is matched to its operation (path template and method) and the response body, status and content
type are validated by openapi-core. For statuses an operation does not document (e.g. a 400 the
sandbox chooses for an out-of-range query), :meth:`OpenApiDocument.check_schema` validates a body
against one named component schema instead.

``check`` reads a streamed request or response body itself, so it can run as an httpx
``response`` event hook on a client that every test of a provider uses.

The documents are copies, kept in ``provider_documents/`` beside this file, of the ones the
project was started from (``shared/providers/`` beside the repository; a test keeps the copies
identical to those wherever that folder exists), so the contract tests also run in a plain
clone, e.g. on GitHub Actions. Their ``servers`` entry names the real provider, so it is
replaced with the sandbox's mount prefix (``/qubrid/api/v1``, ``/cohere``) before path matching.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.responses.exceptions import ResponseNotFound
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import Headers, ImmutableMultiDict

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DOCUMENTS = Path(__file__).resolve().parent / "provider_documents"
SHARED_PROVIDER_DOCUMENTS = REPO_ROOT.parent / "shared" / "providers"


class ResponseMismatch(AssertionError):
    """A response that its provider's OpenAPI document does not allow."""


@dataclass
class _RequestView:
    """An ``httpx.Request`` seen through openapi-core's Request protocol.

    Not frozen: the protocol wants ``parameters`` settable (openapi-core writes path values).
    """

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@dataclass(frozen=True)
class _ResponseView:
    """An ``httpx.Response`` seen through openapi-core's Response protocol."""

    status_code: int
    content_type: str
    headers: Headers
    data: bytes | None


def _request_view(request: httpx.Request) -> _RequestView:
    url = request.url
    query = ImmutableMultiDict(list(url.params.multi_items()))
    headers = Headers(list(request.headers.items()))
    body = request.content if request.content else None
    return _RequestView(
        host_url=f"{url.scheme}://{url.netloc.decode('ascii')}",
        path=url.path,
        method=request.method.lower(),
        parameters=RequestParameters(query=query, header=headers),
        content_type=request.headers.get("content-type", "").lower(),
        body=body,
    )


def _response_view(response: httpx.Response) -> _ResponseView:
    content_type = response.headers.get("content-type", "")
    # openapi-core compares the bare media type; a charset parameter would not match the document.
    media_type = content_type.split(";", 1)[0].strip().lower()
    return _ResponseView(
        status_code=response.status_code,
        content_type=media_type,
        headers=Headers(list(response.headers.items())),
        data=response.content or None,
    )


class OpenApiDocument:
    """One provider's OpenAPI document, re-based onto the sandbox's mount prefix."""

    def __init__(self, document: Mapping[str, Any], mount_prefix: str) -> None:
        rebased = dict(document)
        rebased["servers"] = [{"url": mount_prefix}]
        self._document = rebased
        self._openapi = OpenAPI.from_dict(rebased)
        self._schemas: Mapping[str, Any] = rebased.get("components", {}).get("schemas", {})
        self._registry: Registry[Any] = Registry().with_resource(
            "urn:provider-document",
            Resource.from_contents(rebased, default_specification=DRAFT202012),
        )

    def check(
        self, response: httpx.Response, *, undocumented_errors: str | None = None
    ) -> httpx.Response:
        """Validate ``response`` against the operation its request matched; return it unchanged.

        An error status the operation does not document (a 400 for an out-of-range query, a 404
        from routing) fails, unless ``undocumented_errors`` names the component schema such
        error bodies must match instead (e.g. ``"ErrorResponse"``); they must still be JSON.
        """
        # Streamed bodies (multipart uploads, event hooks) are loaded so they can be inspected.
        response.request.read()
        response.read()
        request = _request_view(response.request)
        errors = list(self._openapi.iter_response_errors(request, _response_view(response)))
        if (
            errors
            and undocumented_errors is not None
            and response.status_code >= 400
            and all(isinstance(error, ResponseNotFound) for error in errors)
        ):
            media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
            if media_type != "application/json":
                raise ResponseMismatch(
                    f"{response.request.method} {response.request.url.path} -> "
                    f"{response.status_code}: error body is {media_type or 'untyped'!r}, "
                    "not application/json"
                )
            self.check_schema(undocumented_errors, response.json())
            return response
        if errors:
            details = "; ".join(_describe(error) for error in errors)
            raise ResponseMismatch(
                f"{response.request.method} {response.request.url.path} -> "
                f"{response.status_code}: {details}\nbody: {response.text[:2000]}"
            )
        return response

    def check_schema(self, component: str, body: object) -> None:
        """Validate ``body`` against ``#/components/schemas/<component>`` of the document."""
        if component not in self._schemas:
            raise KeyError(f"no component schema named {component!r} in the document")
        schema = {"$ref": f"urn:provider-document#/components/schemas/{component}"}
        validator = Draft202012Validator(
            schema,
            registry=self._registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        error = best_match(validator.iter_errors(body))
        if error is not None:
            location = "/".join(str(part) for part in error.absolute_path) or "(root)"
            raise ResponseMismatch(
                f"{component} at {location}: {error.message}\nbody: {json.dumps(body)[:2000]}"
            )


def _describe(error: Exception) -> str:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return f"{type(error).__name__}: " + "; ".join(
            f"{'/'.join(str(part) for part in e.absolute_path) or '(root)'}: {e.message}"
            for e in schema_errors
        )
    return f"{type(error).__name__}: {error}"


@functools.cache
def provider_document(filename: str, mount_prefix: str) -> OpenApiDocument:
    """Load ``provider_documents/<filename>``, rebased for the sandbox.

    Cached: parsing and checking a document takes a while, and every test of a provider uses it.
    """
    path = PROVIDER_DOCUMENTS / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: copy it from shared/providers/ (the provider documents)"
        )
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    return OpenApiDocument(document, mount_prefix)
