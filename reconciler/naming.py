"""The ownership marker: how a remote dataset's name says which spec it belongs to.

There is no state file, so what must be remembered is written where every machine can read it:
the name of the dataset we upload is ``<spec name>-rc<first 12 hex of its fingerprint>``
(plus ``.zip``/``.csv`` where the provider stores a file name), e.g.
``mascot-flux-pro-v1-rc3f2a9c01d4e7.zip``. A remote job whose dataset carries the marker for
its own name is one we created; only those may be pruned.

Names use ``a-z``, ``0-9`` and single inner hyphens only, so the marker survives the places a
provider rewrites it: Cohere turns a dataset name into a dataset id ``<slug>-<6 chars>``, and
Segmind stores an upload at ``uploads/<user>/<file id>-<file name>``. This module formats the
marker, parses it back from each of those forms, and states the name lengths each provider's
limits leave for a spec name. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from reconciler.model import Marker, Provider

FINGERPRINT_CHARS = 12
MARKER_INFIX = "-rc"
MARKER_LENGTH = len(MARKER_INFIX) + FINGERPRINT_CHARS  # what the marker adds to a name: 15

# A spec name the marker can carry unchanged through slugs and object keys: lower-case letters
# and digits in runs joined by single hyphens (a slug would collapse "--" or trim a trailing "-").
NAME_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"

# Cohere documents dataset names as "<50 chars"; the name we give is the bare marker.
COHERE_DATASET_NAME_MAX = 49
# Qubrid documents `suffix` as at most 64 characters; we send the marker as the suffix.
QUBRID_SUFFIX_MAX = 64
# Segmind documents no limit on job or file names; 64 keeps the job name and the uploaded file
# name (the marker plus ".zip") short and URL-safe.
SEGMIND_MAX_NAME_LENGTH = 64
QUBRID_MAX_NAME_LENGTH = QUBRID_SUFFIX_MAX - MARKER_LENGTH  # 49
COHERE_MAX_NAME_LENGTH = COHERE_DATASET_NAME_MAX - MARKER_LENGTH  # 34

MAX_NAME_LENGTH: Mapping[Provider, int] = {
    "segmind": SEGMIND_MAX_NAME_LENGTH,
    "qubrid": QUBRID_MAX_NAME_LENGTH,
    "cohere": COHERE_MAX_NAME_LENGTH,
}

_NAME = re.compile(NAME_PATTERN)
_FP = rf"[0-9a-f]{{{FINGERPRINT_CHARS}}}"
_HEX = re.compile(_FP)
_MARKER = re.compile(rf"(?P<name>{NAME_PATTERN}){MARKER_INFIX}(?P<fp>{_FP})")
# Anything, then the marker's tail: where a Segmind object key's file name ends.
_MARKER_TAIL = re.compile(rf"(?P<head>.*){MARKER_INFIX}(?P<fp>{_FP})")
# Extensions a stored file name may carry after the marker (Segmind may add ".zip" to ours).
_EXTENSION = re.compile(r"\.(?:zip|csv|jsonl|json)$", re.IGNORECASE)
# Cohere's dataset id: the slug of the dataset name, "-", and six characters.
_COHERE_ID = re.compile(r"(?P<slug>.+)-[a-z0-9]{6}")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can carry the marker (characters only; lengths are per provider)."""
    return _NAME.fullmatch(name) is not None


def may_carry_marker(text: str) -> bool:
    """False only when ``text`` (a dataset name, id or URL) cannot hold a marker: it lacks the
    marker's infix, and has no percent-escape that could spell it once a URL is unquoted.

    Parsing is far dearer than this test, and most of the thousands of jobs and datasets in a
    large account are not ours, so every parse of a listed value is guarded by it.
    """
    return MARKER_INFIX in text or "%" in text


def marker_for(name: str, fingerprint: str) -> Marker:
    """The marker for spec ``name`` and a dataset's sha256 hex ``fingerprint``."""
    if not is_valid_name(name):
        raise ValueError(f"name {name!r} cannot carry the marker: use a-z, 0-9 and single '-'")
    short = fingerprint[:FINGERPRINT_CHARS].lower()
    if _HEX.fullmatch(short) is None:
        raise ValueError(f"fingerprint {fingerprint!r} is not sha256 hex")
    return Marker(name, short)


def upload_names(provider: Provider, marker: Marker, local_suffix: str) -> tuple[str, str]:
    """``(remote_name, file_name)`` of an upload: the dataset name the provider stores and
    lists, and the file name sent with the bytes. ``local_suffix`` is the local file's
    extension (``""`` for a folder, which is uploaded as a zip)."""
    extension = (local_suffix or ".zip").lower()
    file_name = f"{marker}{extension}"
    # Cohere keeps a dataset name apart from the file; the bare marker fits its 49 characters.
    remote_name = str(marker) if provider == "cohere" else file_name
    return remote_name, file_name


def qubrid_suffix(name: str, fingerprint: str | None) -> str:
    """The ``suffix`` a Qubrid create sends: the marker, or the bare name without a local
    dataset (``{id: ...}``), so the fine-tuned model's name still says where it came from."""
    return str(marker_for(name, fingerprint)) if fingerprint else name


def _strip_extensions(text: str) -> str:
    while (stripped := _EXTENSION.sub("", text)) != text:
        text = stripped
    return text


def parse_marker(text: str) -> Marker | None:
    """The marker ``text`` is, optionally followed by file extensions; ``None`` otherwise."""
    match = _MARKER.fullmatch(_strip_extensions(text))
    return Marker(match["name"], match["fp"]) if match else None


def parse_qubrid_dataset_name(name: str) -> Marker | None:
    """The marker in a Qubrid dataset's ``name`` (``<marker>.csv``)."""
    return parse_marker(name)


def parse_cohere_dataset_name(name: str) -> Marker | None:
    """The marker in a Cohere dataset's ``name`` (the bare marker)."""
    return parse_marker(name)


def parse_cohere_dataset_id(dataset_id: str) -> Marker | None:
    """The marker in a Cohere dataset id ``<slug of the name>-<6 chars>``."""
    match = _COHERE_ID.fullmatch(dataset_id)
    return parse_marker(match["slug"]) if match else None


def parse_segmind_dataset_url(url: str, job_name: str) -> Marker | None:
    """The marker for ``job_name`` in a Segmind ``data_source_path`` or ``s3_url``.

    The object key ends in ``<file id>-<file name>``; the file id's format is not documented,
    so the marker is recognised by the job's own name rather than by position.
    """
    if not is_valid_name(job_name):
        return None
    last = PurePosixPath(unquote(urlsplit(url).path)).name
    match = _MARKER_TAIL.fullmatch(_strip_extensions(last))
    if match is None:
        return None
    head = match["head"]
    if head == job_name or head.endswith(f"-{job_name}"):
        return Marker(job_name, match["fp"])
    return None


def marker_from_dataset_ref(provider: Provider, ref: str, job_name: str | None) -> Marker | None:
    """The marker a job's dataset reference carries by itself, without the dataset list:
    Segmind's URL (given the job's name) and Cohere's dataset id. Qubrid dataset ids carry
    nothing; their names come from the dataset list."""
    if provider == "segmind":
        return parse_segmind_dataset_url(ref, job_name) if job_name else None
    if provider == "cohere":
        return parse_cohere_dataset_id(ref)
    return None
