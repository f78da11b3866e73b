"""What a spec says: the ``FineTuneSpec`` value, where it was written (``SourceLocation``), what
its dataset is (``DatasetRef``), its own lifecycle rules, and ``DesiredJob``, a spec as the plan
sees it (with its owner and its dataset's fingerprint). The providers a spec may name are
``PROVIDERS``. Frozen values; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

Provider = Literal["segmind", "qubrid", "cohere"]
PROVIDERS: tuple[Provider, ...] = ("segmind", "qubrid", "cohere")


@dataclass(frozen=True, order=True)
class SourceLocation:
    """Where a spec (or one of its fields) was written: file, 1-based line and column."""

    file: Path
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class DatasetKind(StrEnum):
    """How a spec names its dataset."""

    FOLDER = "folder"  # a local folder of images, zipped deterministically (Segmind)
    FILE = "file"  # a local file: .zip (Segmind), .csv (Qubrid, Cohere), .jsonl (Cohere)
    URL = "url"  # {url: https://...}: already hosted, used as is (Segmind)
    ID = "id"  # {id: ...}: already uploaded to the provider (Qubrid, Cohere)


@dataclass(frozen=True)
class DatasetRef:
    """A spec's dataset. ``value`` is the absolute resolved path, the URL, or the remote id."""

    kind: DatasetKind
    value: str

    @property
    def is_local(self) -> bool:
        return self.kind in (DatasetKind.FOLDER, DatasetKind.FILE)

    @cached_property
    def path(self) -> Path:
        # Cached: the loader, the fingerprints, the diff and the renderers each ask for it,
        # for every spec. (It lives outside the fields, so equality and hashing ignore it.)
        if not self.is_local:
            raise ValueError(f"dataset {self.value!r} is not a local path")
        return Path(self.value)


@dataclass(frozen=True)
class Lifecycle:
    """A spec's own rules for its job (``lifecycle:`` in the spec): ``allow_replace`` lets a
    reviewed replace of this job run without ``--allow-replace``; ``prevent_destroy`` blocks any
    plan that would replace or delete it while the spec says so."""

    allow_replace: bool = False
    prevent_destroy: bool = False


@dataclass(frozen=True)
class FineTuneSpec:
    """One validated ``kind: FineTune`` document.

    Optional fields are ``None`` when the spec does not set them; ``set_fields`` names the
    top-level fields the document wrote explicitly, because the diff compares only those
    (a default the provider fills in is not drift). ``parameters`` holds exactly the keys the
    spec (or ``reconciler.yaml`` defaults) set, with their YAML values.
    """

    name: str
    provider: Provider
    base_model: str  # for Cohere, settings.base_model.name
    dataset: DatasetRef
    source: SourceLocation
    access: Literal["private", "public"] | None = None  # Segmind only
    trigger_word: str | None = None  # Segmind
    instance_prompt: str | None = None  # Segmind
    theme: str | None = None  # Segmind
    machine_type: str | None = None  # Segmind
    train_type: str | None = None  # Segmind
    task_type: Literal["qa", "not_qa"] | None = None  # Qubrid
    csv_columns: tuple[str, ...] | None = None  # Qubrid: the CSV columns the task type needs
    base_type: str | None = None  # Cohere: settings.base_model.base_type
    dataset_type: str | None = None  # Cohere: the Datasets API type, e.g. chat-finetune-input
    parameters: Mapping[str, Any] = field(default_factory=dict)
    wandb: Mapping[str, str] | None = None  # Cohere: {project, entity}; the key comes from env
    adopt: tuple[str, ...] = ()  # remote ids of jobs this spec takes over (explicit adoption)
    lifecycle: Lifecycle = Lifecycle()
    set_fields: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[Provider, str]:
        """The identity of a job: unique per provider across the repo."""
        return (self.provider, self.name)


@dataclass(frozen=True)
class DesiredJob:
    """A spec as the plan sees it: the spec, the owner id of the repository it belongs to,
    and for a local dataset its content fingerprint (full sha256 hex) and the number of bytes
    an upload sends (the zip's size for a folder).

    Fingerprint and size are ``None`` for ``{url: ...}`` and ``{id: ...}`` datasets, which are
    used as they are.
    """

    spec: FineTuneSpec
    dataset_fingerprint: str | None = None
    upload_size: int | None = None
    owner: str | None = None

    @property
    def key(self) -> tuple[Provider, str]:
        return self.spec.key

    @property
    def remote_name(self) -> str:
        """The job's name on the provider: ``<owner>--<spec name>``."""
        return f"{self.owner}--{self.spec.name}" if self.owner else self.spec.name
