"""The ``create_status`` variant: which success status a provider answers a job create with.

The documents give one status for each create (Segmind's OpenAPI and Cohere's say 200, Qubrid's
says 201), and none of them is verified against the live service: a REST service may as well
answer 201 Created, 202 Accepted (queued) or 204 No Content. The client must take any 2xx as
success; each provider declares the variant with ``create_status_values(documented)`` and
answers its create with ``created(ctx, body)``. Under 204 the answer has no body, so the client
does not learn the new job's id and must find it on its lists (an unknown outcome, settled).

Other writes (uploads, access updates, cancels, deletes) keep their documented status; a
``status`` fault (``faults.py``) changes the answer to any one request.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from reconcile_sandbox.context import SandboxContext

VARIANT = "create_status"
SUCCESS_STATUSES = ("200", "201", "202", "204")


def create_status_values(documented: int) -> tuple[str, ...]:
    """The variant's values: the documented status first (the default), then the others."""
    return (str(documented), *(status for status in SUCCESS_STATUSES if status != str(documented)))


def created(ctx: SandboxContext, body: object) -> Response:
    """The answer to a create that succeeded, in the status the variant names now; a 204 has
    no body (a 204 with content breaks HTTP)."""
    status = int(ctx.variant(VARIANT))
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(body, status_code=status)
