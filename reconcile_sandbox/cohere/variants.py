"""The other readings of Cohere's documents the emulator can take (``Provider.variants``).

Each variant answers an open question another plausible way; the first value is the default,
the reading our client was written to (``docs/providers.md`` lists each with the client's
behaviour under the others):

- ``dataset_ids``: ``slug`` (``my-dataset-d701tr``, as the document's two examples) or ``uuid``
  (the document gives no format; fine-tuned model ids are UUIDs);
- ``page_size_cap``: ``none``; ``100`` (a larger ``page_size`` is silently lowered to 100, as
  AIP-158, the paging guideline Cohere's ``page_size``/``page_token`` API follows, asks); or
  ``100-refused`` (a larger one is answered 400);
- ``empty_list``: ``object-with-empty-array`` or ``empty-object`` (``{}``: proto3 JSON leaves out
  empty repeated fields, empty strings and zeros, and the schema requires none of them);
- ``dataset_visibility``: ``immediate`` or ``late`` (the first GETs of a new dataset answer 404,
  as a read replica that has not caught up would);
- ``validation_status``: ``clean`` or ``transient-unknown`` (the first looks at a new dataset
  show no ``validation_status``, then ``unknown``, before the usual progression);
- ``finetuning``: ``available``; ``deprecated`` (Cohere deprecated fine-tuning on 2025-09-15:
  every ``/v1/finetuning/*`` call answers 410 Gone, and ``POST /v1/datasets`` refuses every type
  but ``embed-input`` with 400, as the document's note on ``type`` reads); or
  ``deprecated-writes`` (the lists and GETs still answer as usual, but every fine-tuning write
  is refused: a fine-tuned model create, update or delete answers 410 Gone and a dataset upload
  of any type but ``embed-input`` answers 400, as a service that keeps existing models readable
  while taking no new work would).

Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconcile_sandbox.provider import ProviderError

VARIANTS: Mapping[str, tuple[str, ...]] = {
    "dataset_ids": ("slug", "uuid"),
    "page_size_cap": ("none", "100", "100-refused"),
    "empty_list": ("object-with-empty-array", "empty-object"),
    "dataset_visibility": ("immediate", "late"),
    "validation_status": ("clean", "transient-unknown"),
    "finetuning": ("available", "deprecated", "deprecated-writes"),
}

# ``page_size_cap``: the largest page the capped readings serve.
PAGE_SIZE_CAP = 100
# ``dataset_visibility=late``: how many GETs of a new dataset answer 404 first.
LATE_DATASET_GETS = 2
# ``validation_status=transient-unknown``: the first look shows no status, the next ``unknown``.
TRANSIENT_UNKNOWN_GETS = 2

# A deprecated API that is switched off answers 410 Gone: the resource existed and will not
# come back, which is what the deprecation note says; the message names the date and the way on.
DEPRECATED_STATUS = 410
DEPRECATED_MESSAGE = (
    "Fine-tuning was deprecated on September 15, 2025 and is no longer available. "
    "See https://docs.cohere.com/docs/fine-tuning for alternatives."
)
EMBED_ONLY_MESSAGE = (
    "type {type!r} is not supported: fine-tuning was deprecated on September 15, 2025; "
    "the only valid type is `embed-input`."
)


def refuses_finetuning_writes(setting: str) -> bool:
    """Whether the ``finetuning`` setting refuses fine-tuning writes (both deprecated readings)."""
    return setting in ("deprecated", "deprecated-writes")


def refuse_finetuning() -> ProviderError:
    """The answer to every fine-tuning call under ``finetuning=deprecated``, and to every
    fine-tuning write under ``finetuning=deprecated-writes``."""
    return ProviderError(DEPRECATED_STATUS, DEPRECATED_MESSAGE)


def refuse_dataset_type(dataset_type: str) -> ProviderError:
    """The answer to a dataset upload of any type but ``embed-input`` under either deprecated
    reading of ``finetuning``."""
    return ProviderError(400, EMBED_ONLY_MESSAGE.format(type=dataset_type))
