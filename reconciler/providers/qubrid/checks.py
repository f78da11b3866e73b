"""Checks of Qubrid datasets: a UTF-8 CSV with a header and the columns of the task type.

Qubrid documents only "columns appropriate for the task type". The convention here
(``QUBRID_DEFAULT_COLUMNS`` in its profile): ``qa`` needs ``question,answer`` and ``not_qa``
needs ``text``; a spec (or ``reconciler.yaml``) that uses other names sets ``csv_columns``,
which replaces the default list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.datasets.problems import DatasetProblem, ProblemLog
from reconciler.datasets.tabular import csv_records
from reconciler.providers.profile import DatasetUse
from reconciler.providers.qubrid.profile import QUBRID_DEFAULT_COLUMNS


def qubrid_columns(
    task_type: str | None, csv_columns: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The columns a Qubrid CSV must have: ``csv_columns`` when given, else the default."""
    if csv_columns is not None:
        return tuple(csv_columns)
    if task_type is None:
        return ()
    return QUBRID_DEFAULT_COLUMNS.get(task_type, ())


def check_qubrid_csv(
    path: Path,
    *,
    task_type: str | None = None,
    csv_columns: Sequence[str] | None = None,
) -> list[DatasetProblem]:
    """Problems of a Qubrid training CSV (none when it is fine).

    Without ``task_type`` and ``csv_columns`` only the shape is checked (UTF-8, a header,
    rows that parse, at least one row).
    """
    log = ProblemLog(path)
    if path.suffix.lower() != ".csv":
        log.add(None, "Qubrid takes a CSV file (.csv); export the data as CSV")
        return log.problems()
    required = qubrid_columns(task_type, csv_columns)
    if required:
        header = ",".join(required)
        source = "csv_columns" if csv_columns is not None else f"task_type {task_type}"
        hint = (
            f"{source} needs a first line {header!r}; rename the columns, or set csv_columns"
            " in the spec to the names the file uses"
        )
    else:
        hint = "the first line must name the columns"
    rows = sum(1 for _ in csv_records(path, log, required, hint))
    if rows == 0 and not log:
        log.add(None, "the CSV has a header but no rows; add at least one row of training data")
    return log.problems()


def check_qubrid_dataset(path: Path, use: DatasetUse) -> list[DatasetProblem]:
    """Problems of an existing Qubrid dataset: a CSV with the columns of its task type."""
    if path.is_dir():
        return [DatasetProblem(path, None, "a folder; qubrid takes a CSV file")]
    return check_qubrid_csv(path, task_type=use.task_type, csv_columns=use.csv_columns)
