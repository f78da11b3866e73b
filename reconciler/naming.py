"""Remote names: which repository owns a job, and which spec and dataset content it came from.

There is no state file, so what must be remembered is written where every machine can read it:

- **The owner.** Several repositories may share one provider account, so every object we create
  carries the repository's ``owner`` id (``reconciler.yaml``): a job's remote name is
  ``<owner>--<spec name>`` (``ml-team--mascot-flux-pro-v1``) where the provider keeps a job
  name (Segmind, Cohere), and the name of the dataset we upload starts with ``<owner>--`` where
  the dataset is what names the job (Qubrid jobs have no name) or where the upload is the file
  a job trains on (Segmind). Names and owners never hold ``--`` themselves, so the separator is
  unambiguous. Only jobs carrying this repository's owner are ever pruned.
- **The marker.** The name of the dataset we upload is ``[<owner>--]<spec name>-rc<first 12 hex
  of its fingerprint>`` (plus ``.zip``/``.csv`` where the provider stores a file name), e.g.
  ``ml-team--mascot-flux-pro-v1-rc3f2a9c01d4e7.zip``: what a job trains on, readable from
  the job list. Cohere's dataset name (under 50 characters) leaves no room for the owner; its
  jobs carry the owner in their own name.

Names use ``a-z``, ``0-9`` and single inner hyphens only, so both survive the places a provider
rewrites them: Cohere turns a dataset name into a dataset id ``<slug>-<6 chars>``, and Segmind
stores an upload at ``uploads/<user>/<file id>-<file name>``. This module formats names and
markers and parses them back from those forms; which form a provider uses, its name lengths and
whether its dataset names have room for the owner are facts of its profile
(``reconciler/providers/<name>/profile.py``). Nothing here does I/O.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from reconciler.core.marker import Marker

FINGERPRINT_CHARS = 12
MARKER_INFIX = "-rc"
MARKER_LENGTH = len(MARKER_INFIX) + FINGERPRINT_CHARS  # what the marker adds to a name: 15

# A spec name the marker can carry unchanged through slugs and object keys: lower-case letters
# and digits in runs joined by single hyphens (a slug would collapse "--" or trim a trailing "-").
NAME_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"
# The same rule in the JSON Schema, which matches with `re.search` (jsonschema) or ECMA regex
# (editors): `$` would let "name\n" through in Python (from `name: |`), and `\Z` is no ECMA;
# "no character follows" ends the name in both.
NAME_SCHEMA_PATTERN = rf"^{NAME_PATTERN}(?![\s\S])"

# A repository's owner id: the same characters as a name, short, since it prefixes every job
# name; ``--`` joins it to the name (neither may hold ``--``, so it splits one way only).
OWNER_SEPARATOR = "--"
OWNER_MIN_LENGTH = 2
OWNER_MAX_LENGTH = 16

_NAME = re.compile(NAME_PATTERN)
_FP = rf"[0-9a-f]{{{FINGERPRINT_CHARS}}}"
_HEX = re.compile(_FP)
_MARKER = re.compile(
    rf"(?:(?P<owner>{NAME_PATTERN}){OWNER_SEPARATOR})?(?P<name>{NAME_PATTERN})"
    rf"{MARKER_INFIX}(?P<fp>{_FP})"
)
# Anything, then the marker's tail: where a stored file name that ends in ours ends.
_MARKER_TAIL = re.compile(rf"(?P<head>.*){MARKER_INFIX}(?P<fp>{_FP})")
# Extensions a stored file name may carry after the marker (a provider may add ".zip" to ours).
_EXTENSION = re.compile(r"\.(?:zip|csv|jsonl|json)$", re.IGNORECASE)
# What a provider appends to our name to make an id.
_ID_SUFFIX = re.compile(r"[a-z0-9]+")


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can carry the marker (characters only; lengths are per provider)."""
    return _NAME.fullmatch(name) is not None


def is_valid_owner(owner: str) -> bool:
    """Whether ``owner`` can be a repository's owner id (``reconciler.yaml``)."""
    return OWNER_MIN_LENGTH <= len(owner) <= OWNER_MAX_LENGTH and _NAME.fullmatch(owner) is not None


def remote_job_name(owner: str | None, name: str) -> str:
    """The name a job of spec ``name`` has on a provider: ``<owner>--<name>``."""
    return f"{owner}{OWNER_SEPARATOR}{name}" if owner else name


def split_remote_name(text: str) -> tuple[str | None, str]:
    """``(owner, spec name)`` of a remote job name; ``(None, text)`` when it carries no owner
    (a job made by hand, or before the repository had one)."""
    if OWNER_SEPARATOR not in text:  # most names in a large account: no need to look further
        return None, text
    owner, _, name = text.partition(OWNER_SEPARATOR)
    if _NAME.fullmatch(owner) and _NAME.fullmatch(name):
        return owner, name
    return None, text


def may_carry_marker(text: str) -> bool:
    """False only when ``text`` (a dataset name, id or URL) cannot hold a marker: it lacks the
    marker's infix, and has no percent-escape that could spell it once a URL is unquoted.

    Parsing is far dearer than this test, and most of the thousands of jobs and datasets in a
    large account are not ours, so every parse of a listed value is guarded by it.
    """
    return MARKER_INFIX in text or "%" in text


def marker_for(name: str, fingerprint: str, owner: str | None = None) -> Marker:
    """The marker for spec ``name`` of repository ``owner`` and a dataset's sha256 hex
    ``fingerprint``."""
    if not is_valid_name(name):
        raise ValueError(f"name {name!r} cannot carry the marker: use a-z, 0-9 and single '-'")
    if owner is not None and not is_valid_owner(owner):
        raise ValueError(f"owner {owner!r} is not a valid owner id")
    short = fingerprint[:FINGERPRINT_CHARS].lower()
    if _HEX.fullmatch(short) is None:
        raise ValueError(f"fingerprint {fingerprint!r} is not sha256 hex")
    return Marker(name, short, owner)


def strip_extensions(text: str) -> str:
    """``text`` without the file extensions a stored name may end in (``.csv``, ``.zip.zip``)."""
    while (stripped := _EXTENSION.sub("", text)) != text:
        text = stripped
    return text


def parse_marker(text: str) -> Marker | None:
    """The marker ``text`` is, optionally followed by file extensions; ``None`` otherwise."""
    match = _MARKER.fullmatch(strip_extensions(text))
    return Marker(match["name"], match["fp"], match["owner"]) if match else None


def marker_in_id(text: str, suffix_chars: int) -> Marker | None:
    """The marker in an id a provider makes of our dataset name: the name (a slug already),
    ``-``, and ``suffix_chars`` lower-case letters and digits of its own."""
    slug, separator, suffix = text.rpartition("-")
    if not separator or len(suffix) != suffix_chars or _ID_SUFFIX.fullmatch(suffix) is None:
        return None
    return parse_marker(slug)


def marker_in_stored_file_url(url: str, job_name: str) -> Marker | None:
    """The marker for the job whose remote name is ``job_name`` (``<owner>--<name>``, or a bare
    name) in the URL of a file a provider stored under a name ending in the one we gave it
    (``.../<its own prefix>-<our file name>``).

    The prefix's format is the provider's, so the marker is recognised by the job's own name
    rather than by position.
    """
    owner, name = split_remote_name(job_name)
    if not is_valid_name(name):
        return None
    last = PurePosixPath(unquote(urlsplit(url).path)).name
    match = _MARKER_TAIL.fullmatch(strip_extensions(last))
    if match is None:
        return None
    head = match["head"]
    if head == job_name or head.endswith(f"-{job_name}"):
        return Marker(name, match["fp"], owner)
    return None
