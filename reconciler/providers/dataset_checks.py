"""The one entry point of the dataset checks: a local dataset checked for its provider.

Each provider's checks live in its folder (``<name>/checks.py``); which provider's apply is
decided here, exhaustively. The loader imports this module only when a dataset must be read:
a run served from the caches imports none of the checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import assert_never

from reconciler.core.spec import Provider
from reconciler.datasets.problems import DatasetProblem
from reconciler.providers.cohere.checks import check_cohere_dataset
from reconciler.providers.profile import DatasetUse
from reconciler.providers.profiles import PROFILES
from reconciler.providers.qubrid.checks import check_qubrid_dataset
from reconciler.providers.segmind.checks import check_segmind_dataset


def check_dataset(
    provider: Provider,
    path: Path,
    *,
    task_type: str | None = None,
    csv_columns: Sequence[str] | None = None,
    dataset_type: str | None = None,
) -> list[DatasetProblem]:
    """Every problem of the local dataset at ``path`` for ``provider``; empty when it is fine.

    ``task_type`` and ``csv_columns`` concern Qubrid (the columns its CSV needs), and
    ``dataset_type`` Cohere (the Datasets API type; inferred from the extension when None).
    Never raises for bad data or unreadable files: every such case is a problem.
    """
    if not path.exists():
        return [DatasetProblem(path, None, "the dataset does not exist; check the path")]
    if provider not in PROFILES:  # from an untyped caller: a problem too, never an exception
        return [DatasetProblem(path, None, f"unknown provider {provider!r}")]
    use = DatasetUse(task_type, csv_columns, dataset_type)
    match provider:
        case "segmind":
            return check_segmind_dataset(path, use)
        case "qubrid":
            return check_qubrid_dataset(path, use)
        case "cohere":
            return check_cohere_dataset(path, use)
        case _:
            assert_never(provider)
