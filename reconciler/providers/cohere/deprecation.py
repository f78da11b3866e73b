"""Cohere's fine-tuning deprecation: telling a refusal of it from any other error.

Cohere deprecated its fine-tuning API on 2025-09-15 (its fine-tuning page says so; its OpenAPI
document marks every ``/v1/finetuning/*`` operation ``deprecated: true`` and says of the dataset
``type`` that "the only valid type is ``embed-input``"). The reconciler keeps full support, but
the service may stop taking it at any time, and how it will say so is not documented. These are
the answers read as that refusal (``docs/providers.md``):

- 410 Gone from any call: the resource existed and is gone for good;
- 404 from the fine-tuned model *list*: the collection itself is gone (a list has no id to miss);
- 400 from a dataset upload whose message names ``embed-input``: the fine-tuning types refused;
- any other 4xx whose message says "deprecated".

Each becomes one ``CohereDeprecatedError`` with one message, whatever the call: the run blocks
every Cohere change with it and goes on with the other providers. Nothing here does I/O.
"""

from __future__ import annotations

from reconciler.providers.base import PermanentError, ProviderError, ServiceRefusedError

DEPRECATION_DATE = "2025-09-15"
DEPRECATION_MESSAGE = (
    f"Cohere deprecated its fine-tuning API on {DEPRECATION_DATE} and now refuses it"
    " ({detail}); nothing was changed on Cohere. Move these specs to another provider or"
    " remove them (Cohere's existing fine-tuned models keep serving until Cohere retires them);"
    " the other providers go on"
)
VALIDATE_WARNING = (
    f"Cohere deprecated its fine-tuning API on {DEPRECATION_DATE}: reconcile still supports it,"
    " but Cohere may refuse new fine-tunes at any time; plan a move to another provider"
)


class CohereDeprecatedError(ServiceRefusedError):
    """Cohere refused a fine-tuning call or dataset type because fine-tuning is deprecated: a
    refusal of the service, so an apply blocks every remaining Cohere change with it."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__("cohere", DEPRECATION_MESSAGE.format(detail=detail), status=status)


def deprecation_refusal(
    error: ProviderError, *, listing_models: bool = False, uploading: bool = False
) -> CohereDeprecatedError | None:
    """The deprecation refusal ``error`` stands for, or None when it is another error.

    ``listing_models``: the error answered the fine-tuned model list; ``uploading``: a dataset
    upload."""
    if not isinstance(error, PermanentError) or error.status is None:
        return None
    status = error.status
    message = error.message.lower()
    refused = (
        status == 410
        or (status == 404 and listing_models)
        or (status == 400 and uploading and "embed-input" in message)
        or (400 <= status < 500 and "deprecat" in message)
    )
    if not refused:
        return None
    return CohereDeprecatedError(_detail(error), status=status)


def _detail(error: ProviderError) -> str:
    """The provider's own words, without the "what we were doing:" prefix."""
    _, _, detail = error.message.partition(": ")
    return detail or error.message
