"""What the emulated Cohere Datasets API checks in an uploaded file, and the metrics it reports.

Cohere validates a dataset asynchronously after upload; this module is the content check that
runs when the sandbox's validation finishes. It parses the training file (and the optional
evaluation file) by dataset type and returns a :class:`ValidationOutcome`: either an error
message for ``validation_error`` (the dataset becomes ``failed``), or the row counts and the
``finetune_dataset_metrics`` the dataset shows once ``validated``.

Rules, from Cohere's dataset documentation (see CONTRACTS.md §C3):

- chat: JSONL ``{"messages": [{"role": "System"|"User"|"Chatbot", "content": ...}]}``, at least
  2 valid conversations, no turn over 16,384 tokens; without evaluation data the rows are split
  80/20 into train and eval;
- single-label classification: ``{text, label}`` rows as JSONL or CSV; at least 40 examples,
  2 labels and 5 examples per label; multi-label: JSONL whose ``label`` is a list;
- rerank: JSONL ``{query, relevant_passages[], hard_negatives[]}``, at least 256 unique queries;
- embed input: rows with a ``text`` field; other types only need rows that parse.

Tokens are counted as whitespace-separated words: the sandbox has no tokenizer, and the counts
only need to be plausible and deterministic. Nothing here does I/O.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CHAT_ROLES = frozenset({"System", "User", "Chatbot"})
MAX_TURN_TOKENS = 16_384
MIN_CHAT_CONVERSATIONS = 2
MIN_CLASSIFY_EXAMPLES = 40
MIN_CLASSIFY_LABELS = 2
MIN_EXAMPLES_PER_LABEL = 5
MIN_RERANK_QUERIES = 256
SAMPLE_COUNT = 3

FINETUNE_TYPES = frozenset(
    {
        "chat-finetune-input",
        "single-label-classification-finetune-input",
        "multi-label-classification-finetune-input",
        "reranker-finetune-input",
    }
)

REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "chat-finetune-input": ("messages",),
    "single-label-classification-finetune-input": ("text", "label"),
    "multi-label-classification-finetune-input": ("text", "label"),
    "reranker-finetune-input": ("query", "relevant_passages"),
    "embed-input": ("text",),
}


@dataclass(frozen=True)
class UploadedFile:
    """One multipart file part: the client's file name and its bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class ParseOptions:
    """The upload's query-string options that change how rows are read and kept."""

    skip_malformed_input: bool = False
    csv_delimiter: str = ","
    text_separator: str = "\n"
    keep_fields: tuple[str, ...] = ()
    optional_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationOutcome:
    """The result of validating one dataset: ``error`` is None when it validated."""

    error: str | None
    warnings: tuple[str, ...] = ()
    train_rows: int = 0
    eval_rows: int = 0
    samples: tuple[str, ...] = ()
    eval_samples: tuple[str, ...] = ()
    finetune_metrics: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Row:
    """One parsed record and where it came from (1-based line; the header is line 1 in CSV)."""

    line: int
    text: str
    record: Mapping[str, Any]


class DatasetInvalid(Exception):
    """A dataset that fails validation; the message becomes ``validation_error``."""


@dataclass
class _Parsed:
    rows: list[_Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_dataset(
    dataset_type: str,
    data: UploadedFile,
    eval_data: UploadedFile | None,
    options: ParseOptions,
) -> ValidationOutcome:
    """Validate an uploaded dataset of ``dataset_type`` the way Cohere's validation does."""
    try:
        return _validate(dataset_type, data, eval_data, options)
    except DatasetInvalid as invalid:
        return ValidationOutcome(error=str(invalid))


def _validate(
    dataset_type: str,
    data: UploadedFile,
    eval_data: UploadedFile | None,
    options: ParseOptions,
) -> ValidationOutcome:
    checker = _ROW_CHECKERS.get(dataset_type, _check_any_row)
    train = _parse_rows(dataset_type, data, options, checker)
    evaluation = (
        _parse_rows(dataset_type, eval_data, options, checker) if eval_data is not None else None
    )
    for parsed, upload in ((train, data), (evaluation, eval_data)):
        if parsed is not None and upload is not None:
            _check_kept_fields(parsed.rows, upload.filename, options.keep_fields)
    warnings = tuple(train.warnings + (evaluation.warnings if evaluation else []))

    if dataset_type == "chat-finetune-input":
        if len(train.rows) < MIN_CHAT_CONVERSATIONS:
            raise DatasetInvalid(
                f"{data.filename}: found {len(train.rows)} valid conversation(s); a chat "
                f"dataset needs at least {MIN_CHAT_CONVERSATIONS}"
            )
    elif dataset_type in (
        "single-label-classification-finetune-input",
        "multi-label-classification-finetune-input",
    ):
        _check_label_counts(train.rows, data.filename)
    elif dataset_type == "reranker-finetune-input":
        queries = {str(row.record["query"]) for row in train.rows}
        if len(queries) < MIN_RERANK_QUERIES:
            raise DatasetInvalid(
                f"{data.filename}: found {len(queries)} unique queries; a rerank dataset "
                f"needs at least {MIN_RERANK_QUERIES}"
            )
    elif not train.rows:
        raise DatasetInvalid(f"{data.filename}: the file holds no rows")

    train_rows, eval_rows = _split(train.rows, evaluation.rows if evaluation else None)
    metrics = (
        _finetune_metrics(dataset_type, train_rows, eval_rows)
        if dataset_type in FINETUNE_TYPES
        else None
    )
    return ValidationOutcome(
        error=None,
        warnings=warnings,
        train_rows=len(train.rows),
        eval_rows=len(evaluation.rows) if evaluation else 0,
        samples=tuple(row.text for row in train.rows[:SAMPLE_COUNT]),
        eval_samples=tuple(row.text for row in evaluation.rows[:SAMPLE_COUNT])
        if evaluation
        else (),
        finetune_metrics=metrics,
    )


def _split(train: list[_Row], evaluation: list[_Row] | None) -> tuple[list[_Row], list[_Row]]:
    """Train and eval examples: the eval file when given, else the last 20% of the train file."""
    if evaluation is not None:
        return train, evaluation
    eval_count = len(train) // 5
    cut = len(train) - eval_count
    return train[:cut], train[cut:]


# --- parsing -------------------------------------------------------------------------------


def _file_format(upload: UploadedFile) -> str:
    """``jsonl``, ``csv`` or ``txt``: by file extension, else by the first character."""
    name = upload.filename.lower()
    for extension, kind in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv")):
        if name.endswith(extension):
            return kind
    if name.endswith(".txt"):
        return "txt"
    return "jsonl" if upload.content.lstrip()[:1] == b"{" else "csv"


def _decode(upload: UploadedFile) -> str:
    try:
        text = upload.content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetInvalid(
            f"{upload.filename}: the file is not UTF-8 text (byte {error.start}); "
            "save it as UTF-8 and upload it again"
        ) from None
    if not text.strip():
        raise DatasetInvalid(f"{upload.filename}: the file is empty")
    return text


def _raw_records(
    upload: UploadedFile, text: str, options: ParseOptions
) -> Iterator[tuple[int, str, Mapping[str, Any] | str]]:
    """Yield (line, raw text, record or parse error) for every non-blank row of the file."""
    kind = _file_format(upload)
    if kind == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, line, f"invalid JSON ({error.msg} at column {error.colno})"
                continue
            if not isinstance(value, dict):
                yield number, line, "each line must be a JSON object"
                continue
            yield number, line, value
    elif kind == "csv":
        reader = csv.DictReader(io.StringIO(text), delimiter=options.csv_delimiter)
        if not reader.fieldnames:
            raise DatasetInvalid(f"{upload.filename}: the CSV file has no header row")
        for record in reader:
            row_number = reader.line_num
            raw = options.csv_delimiter.join(str(value) for value in record.values())
            if None in record or any(value is None for value in record.values()):
                yield row_number, raw, "the row does not have as many columns as the header"
                continue
            yield row_number, raw, {key: value for key, value in record.items() if key is not None}
    else:
        for number, chunk in enumerate(text.split(options.text_separator), start=1):
            if chunk.strip():
                yield number, chunk, {"text": chunk.strip()}


RowChecker = Callable[[Mapping[str, Any], str], "str | None"]


def _parse_rows(
    dataset_type: str, upload: UploadedFile, options: ParseOptions, checker: RowChecker
) -> _Parsed:
    text = _decode(upload)
    if dataset_type == "multi-label-classification-finetune-input" and (
        _file_format(upload) != "jsonl"
    ):
        raise DatasetInvalid(
            f"{upload.filename}: multi-label classification data must be JSONL "
            '(one {"text": ..., "label": [...]} object per line)'
        )
    if dataset_type in ("chat-finetune-input", "reranker-finetune-input") and (
        _file_format(upload) != "jsonl"
    ):
        raise DatasetInvalid(f"{upload.filename}: {dataset_type} data must be JSONL")
    parsed = _Parsed()
    for line, raw, record in _raw_records(upload, text, options):
        problem = record if isinstance(record, str) else checker(record, dataset_type)
        if problem is None and isinstance(record, Mapping):
            parsed.rows.append(_Row(line=line, text=raw, record=record))
            continue
        message = f"{upload.filename} line {line}: {problem}"
        if not options.skip_malformed_input:
            raise DatasetInvalid(message)
        parsed.warnings.append(f"skipped malformed row: {message}")
    return parsed


def _check_kept_fields(rows: Sequence[_Row], filename: str, keep_fields: Sequence[str]) -> None:
    for name in keep_fields:
        for row in rows:
            if name not in row.record:
                raise DatasetInvalid(
                    f"{filename} line {row.line}: field {name!r} named in keep_fields is "
                    "missing; drop it from keep_fields or pass it as optional_fields"
                )


# --- per-type row checks ---------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.split())


def _check_chat_row(record: Mapping[str, Any], _: str) -> str | None:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list of {role, content} objects"
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{index}] must be an object with 'role' and 'content'"
        role = message.get("role")
        if role not in CHAT_ROLES:
            return (
                f"messages[{index}].role is {role!r}; it must be one of "
                f"{', '.join(sorted(CHAT_ROLES))}"
            )
        content = message.get("content")
        if not isinstance(content, str):
            return f"messages[{index}].content must be a string"
        if _words(content) > MAX_TURN_TOKENS:
            return f"messages[{index}] is longer than {MAX_TURN_TOKENS} tokens"
    return None


def _check_classify_row(record: Mapping[str, Any], dataset_type: str) -> str | None:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return "'text' must be a non-empty string"
    label = record.get("label")
    if dataset_type == "multi-label-classification-finetune-input":
        if not isinstance(label, list) or not all(isinstance(item, str) for item in label):
            return "'label' must be a list of strings for multi-label classification"
    elif not isinstance(label, str) or not label.strip():
        return "'label' must be a non-empty string"
    return None


def _check_rerank_row(record: Mapping[str, Any], _: str) -> str | None:
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        return "'query' must be a non-empty string"
    passages = record.get("relevant_passages")
    if not isinstance(passages, list) or not passages:
        return "'relevant_passages' must be a non-empty list of strings"
    negatives = record.get("hard_negatives", [])
    for name, values in (("relevant_passages", passages), ("hard_negatives", negatives)):
        if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
            return f"{name!r} must be a list of strings"
    return None


def _check_embed_row(record: Mapping[str, Any], _: str) -> str | None:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return "'text' must be a non-empty string"
    return None


def _check_any_row(record: Mapping[str, Any], _: str) -> str | None:
    return None


_ROW_CHECKERS: Mapping[str, RowChecker] = {
    "chat-finetune-input": _check_chat_row,
    "single-label-classification-finetune-input": _check_classify_row,
    "multi-label-classification-finetune-input": _check_classify_row,
    "reranker-finetune-input": _check_rerank_row,
    "embed-input": _check_embed_row,
}


def _labels_of(row: _Row) -> list[str]:
    label = row.record["label"]
    return [str(item) for item in label] if isinstance(label, list) else [str(label)]


def _check_label_counts(rows: Sequence[_Row], filename: str) -> None:
    if len(rows) < MIN_CLASSIFY_EXAMPLES:
        raise DatasetInvalid(
            f"{filename}: found {len(rows)} valid example(s); a classification dataset "
            f"needs at least {MIN_CLASSIFY_EXAMPLES}"
        )
    counts = Counter(label for row in rows for label in _labels_of(row))
    if len(counts) < MIN_CLASSIFY_LABELS:
        raise DatasetInvalid(
            f"{filename}: found {len(counts)} distinct label(s); a classification dataset "
            f"needs at least {MIN_CLASSIFY_LABELS}"
        )
    scarce = sorted(label for label, count in counts.items() if count < MIN_EXAMPLES_PER_LABEL)
    if scarce:
        raise DatasetInvalid(
            f"{filename}: label(s) {', '.join(repr(label) for label in scarce)} have fewer "
            f"than {MIN_EXAMPLES_PER_LABEL} examples each; add examples or drop the label"
        )


# --- metrics ---------------------------------------------------------------------------------


def _size(rows: Sequence[_Row]) -> int:
    return sum(len(row.text.encode("utf-8")) + 1 for row in rows)


def _row_tokens(row: _Row) -> int:
    record = row.record
    if "messages" in record:
        return sum(_words(str(message["content"])) for message in record["messages"])
    if "query" in record:
        passages = [*record["relevant_passages"], *record.get("hard_negatives", [])]
        return _words(str(record["query"])) + sum(_words(str(p)) for p in passages)
    return _words(str(record.get("text", "")))


def _finetune_metrics(
    dataset_type: str, train: Sequence[_Row], evaluation: Sequence[_Row]
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "trainable_token_count": sum(_row_tokens(row) for row in train),
        "total_examples": len(train) + len(evaluation),
        "train_examples": len(train),
        "train_size_bytes": _size(train),
        "eval_examples": len(evaluation),
        "eval_size_bytes": _size(evaluation),
    }
    if dataset_type == "chat-finetune-input":
        chat: dict[str, Any] = {
            "num_train_turns": sum(len(row.record["messages"]) for row in train),
            "num_eval_turns": sum(len(row.record["messages"]) for row in evaluation),
        }
        first_turn = train[0].record["messages"][0] if train else None
        if first_turn is not None and first_turn["role"] == "System":
            chat["preamble"] = first_turn["content"]
        metrics["chat_data_metrics"] = chat
    elif dataset_type == "reranker-finetune-input":
        metrics["reranker_data_metrics"] = {
            "num_train_queries": len(train),
            "num_train_relevant_passages": sum(
                len(row.record["relevant_passages"]) for row in train
            ),
            "num_train_hard_negatives": sum(
                len(row.record.get("hard_negatives", [])) for row in train
            ),
            "num_eval_queries": len(evaluation),
            "num_eval_relevant_passages": sum(
                len(row.record["relevant_passages"]) for row in evaluation
            ),
            "num_eval_hard_negatives": sum(
                len(row.record.get("hard_negatives", [])) for row in evaluation
            ),
        }
    else:
        samples: dict[str, list[str]] = {}
        counts: Counter[str] = Counter()
        for row in [*train, *evaluation]:
            for label in _labels_of(row):
                counts[label] += 1
                examples = samples.setdefault(label, [])
                if len(examples) < SAMPLE_COUNT:
                    examples.append(str(row.record["text"]))
        metrics["classify_data_metrics"] = {
            "label_metrics": [
                {"label": label, "total_examples": counts[label], "samples": samples[label]}
                for label in sorted(counts)
            ]
        }
    return metrics
