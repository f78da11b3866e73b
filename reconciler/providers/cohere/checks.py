"""Checks of Cohere fine-tuning datasets, by Datasets API type (its profile names them), per
Cohere's data formats.

- ``chat-finetune-input``: JSONL, one conversation per line,
  ``{"messages": [{"role": "System"|"User"|"Chatbot", "content": "..."}, ...]}``;
  at least 2 valid conversations.
- ``single-label-classification-finetune-input``: CSV or JSONL with ``text`` and ``label``.
- ``multi-label-classification-finetune-input``: JSONL with ``text`` and a ``label`` list.
  Classification needs at least 40 examples, at least 2 labels and 5 examples per label.
- ``reranker-finetune-input``: JSONL ``{"query", "relevant_passages": [...],
  "hard_negatives": [...]}``, at least 256 unique queries.

Blank lines in JSONL are skipped. Every bad line is reported with its number.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.datasets.lines import read_lines
from reconciler.datasets.problems import DatasetProblem, ProblemLog
from reconciler.datasets.tabular import csv_records
from reconciler.providers.cohere.profile import (
    CHAT,
    COHERE_FINETUNE_TYPES,
    MULTI_LABEL,
    RERANK,
    SINGLE_LABEL,
    cohere_dataset_type,
)
from reconciler.providers.profile import DatasetUse

CHAT_ROLES = ("System", "User", "Chatbot")
MIN_CONVERSATIONS = 2
MIN_CLASSIFY_EXAMPLES = 40
MIN_LABELS = 2
MIN_EXAMPLES_PER_LABEL = 5
MIN_RERANK_QUERIES = 256
# Counting labels needs one counter per label; a wrong column can hold millions of distinct
# values, so counting stops here and the file is reported instead.
MAX_DISTINCT_LABELS = 10_000


def _json_lines(path: Path, log: ProblemLog) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, value)`` for each non-blank line that parses as JSON."""
    for number, text in read_lines(path, log):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as error:
            reason = getattr(error, "msg", str(error))
            log.add(number, f"not valid JSON ({reason}); each line must be one JSON object")
            continue
        except RecursionError:
            log.add(number, "nested too deeply to read; each line must be one JSON object")
            continue
        yield number, value


def _conversation_problem(value: Any) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
        return 'not a conversation; write {"messages": [{"role": ..., "content": ...}, ...]}'
    messages = value["messages"]
    if not messages:
        return '"messages" is empty; a conversation needs at least one message'
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return f'{where} is not an object; write {{"role": ..., "content": ...}}'
        role = message.get("role")
        if role not in CHAT_ROLES:
            return f"{where}.role is {role!r}; use one of {', '.join(CHAT_ROLES)}"
        if not isinstance(message.get("content"), str):
            return f"{where}.content must be a string"
    return None


def check_cohere_chat(path: Path) -> list[DatasetProblem]:
    """Problems of a Cohere chat JSONL (none when it is fine)."""
    log = ProblemLog(path)
    valid = 0
    for number, value in _json_lines(path, log):
        problem = _conversation_problem(value)
        if problem is None:
            valid += 1
        else:
            log.add(number, problem)
    if valid < MIN_CONVERSATIONS:
        log.add(
            None,
            f"{valid} valid conversation{'s' if valid != 1 else ''}; Cohere needs at least"
            f" {MIN_CONVERSATIONS}, one per line",
        )
    return log.problems()


def _labels_of(value: Any, multi_label: bool) -> list[str] | str:
    """The labels of one JSONL example, or a problem message."""
    if not isinstance(value, dict):
        return 'not an object; write {"text": ..., "label": ...}'
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        return '"text" must be a non-empty string'
    label = value.get("label")
    if multi_label:
        if not isinstance(label, list) or not all(isinstance(item, str) for item in label):
            return '"label" must be a list of strings for multi-label classification'
        return list(label)
    if not isinstance(label, str) or not label.strip():
        return '"label" must be a non-empty string'
    return [label]


def check_cohere_classification(path: Path, *, multi_label: bool = False) -> list[DatasetProblem]:
    """Problems of a Cohere classification dataset (CSV or JSONL; JSONL only for multi-label)."""
    log = ProblemLog(path)
    suffix = path.suffix.lower()
    counts: Counter[str] = Counter()
    examples = 0
    labelled: Iterator[tuple[int, list[str]]]
    if suffix == ".csv" and not multi_label:
        hint = "Cohere classification needs a first line 'text,label'"
        labelled = (
            (line, [row["label"]]) for line, row in csv_records(path, log, ("text", "label"), hint)
        )
    elif suffix == ".jsonl":
        labelled = _jsonl_labels(path, log, multi_label)
    else:
        kinds = "JSONL (.jsonl)" if multi_label else "CSV (.csv) or JSONL (.jsonl)"
        log.add(None, f"Cohere classification takes {kinds}")
        return log.problems()
    for _, labels in labelled:
        examples += 1
        for label in labels:
            if label in counts or len(counts) < MAX_DISTINCT_LABELS:
                counts[label] += 1
            else:
                log.add(
                    None,
                    f"more than {MAX_DISTINCT_LABELS} distinct labels; is 'label' the right"
                    " column?",
                )
                return log.problems()
    if examples == 0 and log:
        return log.problems()  # counts of nothing would only repeat the problems above
    if examples < MIN_CLASSIFY_EXAMPLES:
        log.add(
            None,
            f"{examples} valid examples; Cohere classification needs at least"
            f" {MIN_CLASSIFY_EXAMPLES}",
        )
    if len(counts) < MIN_LABELS:
        log.add(None, f"{len(counts)} distinct label(s); Cohere needs at least {MIN_LABELS}")
    for label, count in sorted(counts.items()):
        if count < MIN_EXAMPLES_PER_LABEL:
            log.add(
                None,
                f"label {label!r} has {count} example{'s' if count != 1 else ''}; Cohere needs"
                f" at least {MIN_EXAMPLES_PER_LABEL} per label: add examples or drop the label",
            )
    return log.problems()


def _jsonl_labels(
    path: Path, log: ProblemLog, multi_label: bool
) -> Iterator[tuple[int, list[str]]]:
    for number, value in _json_lines(path, log):
        labels = _labels_of(value, multi_label)
        if isinstance(labels, str):
            log.add(number, labels)
        else:
            yield number, labels


def _rerank_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return 'not an object; write {"query": ..., "relevant_passages": [...]}'
    if not isinstance(value.get("query"), str) or not value["query"].strip():
        return '"query" must be a non-empty string'
    passages = value.get("relevant_passages")
    if (
        not isinstance(passages, list)
        or not passages
        or not all(isinstance(p, str) for p in passages)
    ):
        return '"relevant_passages" must be a non-empty list of strings'
    negatives = value.get("hard_negatives", [])
    if not isinstance(negatives, list) or not all(isinstance(n, str) for n in negatives):
        return '"hard_negatives" must be a list of strings'
    return None


def check_cohere_rerank(path: Path) -> list[DatasetProblem]:
    """Problems of a Cohere rerank JSONL (none when it is fine)."""
    log = ProblemLog(path)
    # Digests, not the queries, and only as many as the rule needs: memory stays bounded.
    queries: set[bytes] = set()
    for number, value in _json_lines(path, log):
        problem = _rerank_problem(value)
        if problem is not None:
            log.add(number, problem)
        elif len(queries) < MIN_RERANK_QUERIES:
            queries.add(hashlib.sha256(value["query"].encode()).digest())
    if len(queries) < MIN_RERANK_QUERIES:
        log.add(
            None,
            f"{len(queries)} unique valid queries; Cohere rerank needs at least"
            f" {MIN_RERANK_QUERIES}",
        )
    return log.problems()


def check_cohere_file(path: Path, *, dataset_type: str | None = None) -> list[DatasetProblem]:
    """Problems of a Cohere dataset file, by its type (given, or inferred from the extension)."""
    kind = cohere_dataset_type(path, dataset_type)
    if kind is None:
        return [
            DatasetProblem(
                path,
                None,
                "Cohere takes a JSONL (.jsonl, chat) or CSV (.csv, classification) file;"
                " or set dataset_type in the spec",
            )
        ]
    if kind == CHAT:
        if path.suffix.lower() != ".jsonl":
            return [DatasetProblem(path, None, "Cohere chat data must be a JSONL file (.jsonl)")]
        return check_cohere_chat(path)
    if kind in (SINGLE_LABEL, MULTI_LABEL):
        return check_cohere_classification(path, multi_label=kind == MULTI_LABEL)
    if kind == RERANK:
        if path.suffix.lower() != ".jsonl":
            return [DatasetProblem(path, None, "Cohere rerank data must be a JSONL file (.jsonl)")]
        return check_cohere_rerank(path)
    return [
        DatasetProblem(
            path,
            None,
            f"dataset_type {kind!r} is not a Cohere fine-tuning type; use one of"
            f" {', '.join(COHERE_FINETUNE_TYPES)}",
        )
    ]


def check_cohere_dataset(path: Path, use: DatasetUse) -> list[DatasetProblem]:
    """Problems of an existing Cohere dataset: a file of its ``dataset_type``."""
    if path.is_dir():
        return [DatasetProblem(path, None, "a folder; cohere takes a JSONL or CSV file")]
    return check_cohere_file(path, dataset_type=use.dataset_type)
