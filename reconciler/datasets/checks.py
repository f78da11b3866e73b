"""The one entry point of the dataset checks: the right checks for a provider and a path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.datasets.cohere_checks import check_cohere_dataset
from reconciler.datasets.problems import DatasetProblem
from reconciler.datasets.qubrid_checks import check_qubrid_csv
from reconciler.datasets.segmind_checks import check_segmind_folder, check_segmind_zip


def check_dataset(
    provider: str,
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
    if provider == "segmind":
        if path.is_dir():
            return check_segmind_folder(path)
        if path.suffix.lower() == ".zip":
            return check_segmind_zip(path)
        return [
            DatasetProblem(
                path, None, "Segmind takes a folder of images or a .zip of images at its root"
            )
        ]
    if path.is_dir():
        kind = "a CSV file" if provider == "qubrid" else "a JSONL or CSV file"
        return [DatasetProblem(path, None, f"a folder; {provider} takes {kind}")]
    if provider == "qubrid":
        return check_qubrid_csv(path, task_type=task_type, csv_columns=csv_columns)
    if provider == "cohere":
        return check_cohere_dataset(path, dataset_type=dataset_type)
    return [DatasetProblem(path, None, f"unknown provider {provider!r}")]
