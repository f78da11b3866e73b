"""Reading YAML input files safely, keeping the line and column of every node.

This module owns the path from bytes on disk to plain Python values (``dict``, ``list``,
``str``, ``int``, ``float``, ``bool``, ``None``) plus a map from each field path to where it
was written. It never builds anything a hostile file could blow up: the file's size is checked
before it is read, the text must be UTF-8, and documents are *composed* (a node graph in which
an alias is a shared reference, so an alias bomb costs nothing yet) and then converted by our
own walker, which counts every node it expands and stops at a fixed budget. The bytes come
from ``text_file`` (bounded, UTF-8 only). Problems become
``Diagnostic`` values; nothing here raises for bad input.

Plain scalars are read as YAML 1.2's core schema reads them, which is what the editors'
yaml-language-server (and JSON) follow: only ``true``/``false`` are booleans (``yes``, ``no``,
``on``, ``off`` are text), ``0123`` is 123, ``1e-5`` is a number, dates stay text. PyYAML
alone would read YAML 1.1, where the same file means something else than in the editor.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from reconciler.core.diagnostics import Diagnostic
from reconciler.yamlio.text_file import decode_text, read_source

# Nodes one document may expand to, aliases counted at every use. A spec has well under 200;
# the budget stops a "billion laughs" document after a few milliseconds.
MAX_NODES_PER_DOCUMENT = 10_000
# Nesting deeper than this is never a spec, and our walker recurses once per level.
MAX_DEPTH = 64

FieldPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"

# YAML 1.2.2, 10.3.2 (the core schema): the only plain scalars that are not text.
_CORE_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_CORE_TRUE = ("true", "True", "TRUE")
_CORE_FALSE = ("false", "False", "FALSE")
_CORE_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_CORE_INT = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_CORE_FLOAT = re.compile(
    r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)
# The words YAML 1.1 took for booleans, which YAML 1.2 (and so the editors) reads as text.
YAML11_BOOLEAN_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})


class _Yaml12Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's when built with it) resolving plain scalars by the
    YAML 1.2 core schema instead of YAML 1.1's; merge keys (``<<``) are kept, as the editors
    and check-jsonschema keep them."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {}


for _tag, _pattern, _first in (
    (_BOOL_TAG, _CORE_BOOL, "tTfF"),
    (_INT_TAG, _CORE_INT, "-+0123456789"),
    (_FLOAT_TAG, _CORE_FLOAT, "-+0123456789."),
    (_NULL_TAG, _CORE_NULL, ["~", "n", "N", ""]),
    (_MERGE_TAG, re.compile(r"<<\Z"), "<"),
):
    _Yaml12Loader.add_implicit_resolver(_tag, _pattern, list(_first))


def _core_scalar(tag: str, text: str) -> Any:
    """The value of a scalar of a core-schema ``tag``, read by YAML 1.2's rules (an explicit
    ``!!int``/``!!float``/``!!bool`` too); ``ValueError`` when ``text`` is not one."""
    if tag == _NULL_TAG:
        return None
    if tag == _BOOL_TAG:
        if text in _CORE_TRUE or text in _CORE_FALSE:
            return text in _CORE_TRUE
    elif tag == _INT_TAG and _CORE_INT.match(text):
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text)
    elif tag == _FLOAT_TAG and (_CORE_FLOAT.match(text) or _CORE_INT.match(text)):
        lowered = text.lower()
        # Python writes infinity and NaN without YAML's dot (`-.inf` is `-inf`).
        return float(lowered.replace(".", "") if lowered.lstrip("+-") in (".inf", ".nan") else text)
    raise ValueError(f"not a YAML 1.2 value of {tag}")


def reads_as_text(text: str) -> bool:
    """Whether ``text`` written as a plain (unquoted) scalar reads back as this text."""
    return not any(
        pattern.match(text) for pattern in (_CORE_NULL, _CORE_BOOL, _CORE_INT, _CORE_FLOAT)
    )


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based line and column, as editors print them."""

    line: int
    col: int


@dataclass(frozen=True)
class YamlDocument:
    """One YAML document of a file, as plain values with the position of every field.

    ``values`` maps a field path (``("parameters", "iterations")``) to where its value starts,
    ``keys`` to where its key starts; ``plain_scalars`` holds the paths written without quotes
    (so a message can suggest quoting ``yes`` or ``0123``); ``reported`` those whose value
    was already found wrong reading the YAML (a number too long or not finite), which later
    checks leave alone so that one mistake makes one message.
    """

    file: str
    index: int
    value: Any
    start: Position
    values: Mapping[FieldPath, Position] = field(default_factory=dict)
    keys: Mapping[FieldPath, Position] = field(default_factory=dict)
    plain_scalars: frozenset[FieldPath] = frozenset()
    reported: frozenset[FieldPath] = frozenset()

    def value_at(self, path: FieldPath) -> Position:
        """Where the value at ``path`` starts, or its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return self.start

    def key_at(self, path: FieldPath) -> Position:
        """Where the key of ``path`` is written (its value's position when it has no key)."""
        return self.keys.get(path) or self.value_at(path)

    def diagnostic(self, path: FieldPath, message: str, *, at_key: bool = False) -> Diagnostic:
        where = self.key_at(path) if at_key else self.value_at(path)
        return Diagnostic(self.file, where.line, where.col, format_path(path), message)


def format_path(path: FieldPath) -> str:
    """``("parameters", "lora_rank")`` -> ``parameters.lora_rank``; list items as ``[2]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def read_yaml_file(
    path: Path, display: str, *, allow_empty: bool = False
) -> tuple[list[YamlDocument], list[Diagnostic]]:
    """Every document of ``path`` with positions, and every problem found reading it.

    ``display`` is the file name printed in diagnostics. A file with a syntax error yields no
    documents: half a file is not something to act on. An empty file is a problem unless
    ``allow_empty``.
    """
    source, problems = read_source(path, display)
    if source is None:
        return [], problems
    text, problems = decode_text(source.data, display, allow_empty=allow_empty)
    if text is None:
        return [], problems
    return parse_yaml_text(text, display)


def parse_yaml_text(
    text: str, display: str, *, refuse_empty: bool = False
) -> tuple[list[YamlDocument], list[Diagnostic]]:
    """The documents of ``text`` (see ``read_yaml_file``); empty documents are skipped, or
    with ``refuse_empty`` are each a problem when the text holds any other document."""
    problems: list[Diagnostic] = []
    documents: list[YamlDocument] = []
    empty: list[Position] = []
    try:
        nodes = list(_compose_all(text))
    except yaml.MarkedYAMLError as error:
        return [], [_syntax_diagnostic(display, error, text)]
    except yaml.YAMLError as error:
        return [], [Diagnostic(display, 1, 1, "", f"invalid YAML: {error}")]
    except RecursionError:
        return [], [Diagnostic(display, 1, 1, "", "invalid YAML: nesting is far too deep")]
    for index, node in enumerate(nodes):
        if node is None or _is_null(node):
            if node is not None and not node.value:  # `~` or `null` is written, not empty
                empty.append(_position(node.start_mark))
            continue
        converter = _Converter(display, _position(node.start_mark))
        try:
            value = converter.convert(node, (), 0)
        except _DocumentTooLarge as error:
            problems.append(
                Diagnostic(display, error.where.line, error.where.col, "", error.reason)
            )
            continue
        problems.extend(converter.problems)
        documents.append(
            YamlDocument(
                file=display,
                index=index,
                value=value,
                start=_position(node.start_mark),
                values=converter.values,
                keys=converter.keys,
                plain_scalars=frozenset(converter.plain),
                reported=frozenset(converter.reported),
            )
        )
    if refuse_empty and documents:
        # Editors check every document against the schema, an empty one as null, and flag it.
        lines = text.splitlines()
        problems.extend(
            Diagnostic(
                display,
                _marker_line(lines, where),
                1,
                "",
                "an empty document (a `---` with no document after it); remove the `---` or"
                " write the document",
            )
            for where in empty
        )
    return documents, problems


def _marker_line(lines: list[str], where: Position) -> int:
    """The line of the ``---`` that begins the empty document ending at ``where``: the end of
    the text, or the ``---`` of the next document."""
    start = min(where.line, len(lines))
    if where.line <= len(lines) and where.col == 1 and lines[where.line - 1].startswith("---"):
        start = where.line - 1
    for line in range(start, 0, -1):
        if lines[line - 1].startswith("---"):
            return line
    return where.line


def _compose_all(text: str) -> Iterator[yaml.Node | None]:
    loader = _Yaml12Loader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def _syntax_diagnostic(display: str, error: yaml.MarkedYAMLError, text: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    where = _position(mark) if mark is not None else Position(1, 1)
    message = f"invalid YAML: {error.problem or 'syntax error'}"
    if error.context and error.context_mark is not None:
        message += f" ({error.context} started at line {error.context_mark.line + 1})"
    lines = text.splitlines()
    line = lines[where.line - 1] if 0 < where.line <= len(lines) else ""
    if "\t" in line[: where.col] or "tab" in (error.problem or ""):
        message += "; indent with spaces, not tabs"
    return Diagnostic(display, where.line, where.col, "", message)


def _position(mark: Any) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _DocumentTooLarge(Exception):
    def __init__(self, where: Position, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


class _Converter:
    """Walks a composed node graph into plain values, with a budget on expanded nodes."""

    def __init__(self, display: str, document_start: Position) -> None:
        self.display = display
        self.document_start = document_start  # where an alias bomb is reported
        self.expanded = 0
        self.values: dict[FieldPath, Position] = {}
        self.keys: dict[FieldPath, Position] = {}
        self.plain: set[FieldPath] = set()
        self.reported: set[FieldPath] = set()
        self.problems: list[Diagnostic] = []
        self._constructor = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, path: FieldPath, depth: int) -> Any:
        self.expanded += 1
        where = _position(node.start_mark)
        if self.expanded > MAX_NODES_PER_DOCUMENT:
            raise _DocumentTooLarge(
                self.document_start,
                f"the document expands to more than {MAX_NODES_PER_DOCUMENT:,} YAML nodes"
                " (aliases counted at each use), which no spec needs; remove the anchors and"
                " aliases (`&name`, `*name`) that repeat large structures",
            )
        if depth > MAX_DEPTH:
            raise _DocumentTooLarge(
                where, f"the document nests deeper than {MAX_DEPTH} levels, which no spec needs"
            )
        self.values.setdefault(path, where)
        if isinstance(node, yaml.CollectionNode) and node.tag not in _COLLECTION_TAGS:
            self._unsupported_tag(node, path)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)  # the composer builds only these three kinds
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        plain = not node.style  # the pure-Python composer says None, libyaml says ""
        if plain:
            self.plain.add(path)
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # no field is a date; keep the text the user wrote
        try:
            if node.tag in (_NULL_TAG, _BOOL_TAG, _INT_TAG, _FLOAT_TAG):
                value = _core_scalar(node.tag, node.value)
            else:
                value = self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            self._unsupported_tag(node, path)
            return node.value
        except ValueError:
            limit = sys.get_int_max_str_digits()  # 0: no limit
            if not limit or sum(char.isdigit() for char in node.value) <= limit:
                self._unsupported_tag(node, path)  # e.g. `!!int abc`
                return node.value
            # Python refuses to read an integer of more digits (a guard against quadratic
            # conversion); no setting comes near, so it is the input's problem.
            self._report(
                node,
                path,
                f"a number of {len(node.value):,} characters is beyond anything a spec"
                " takes; write a smaller number",
            )
            return None
        if isinstance(value, float) and not math.isfinite(value):
            # .inf and .nan pass every range check and cannot be sent as JSON.
            self._report(node, path, f"{token(node.value)} is not a finite number; write a number")
        return value

    def _report(self, node: yaml.Node, path: FieldPath, message: str) -> None:
        """A problem with the value at ``path``, reported here once (not again by the schema)."""
        self.reported.add(path)
        self._problem(node, path, message)

    def _problem(self, node: yaml.Node, path: FieldPath, message: str) -> None:
        """A problem at ``node``'s position, under the field ``path``."""
        where = _position(node.start_mark)
        self.problems.append(
            Diagnostic(self.display, where.line, where.col, format_path(path), message)
        )

    def _unsupported_tag(self, node: yaml.Node, path: FieldPath) -> None:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self._problem(node, path, f"unsupported YAML tag `{tag}`; write a plain value")

    def _mapping(self, node: yaml.MappingNode, path: FieldPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            key_where = _position(key_node.start_mark)
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge_sources(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, path, "a key must be a plain word, not a list or mapping")
                continue
            key = str(key_node.value)
            if key in first_seen:
                earlier = first_seen[key]
                self._problem(
                    key_node,
                    (*path, key),
                    f"duplicate key {token(key)} (first written at line {earlier.line});"
                    " keep only one",
                )
                continue
            first_seen[key] = key_where
            self.keys[(*path, key)] = key_where
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        # Explicit keys win over merged ones, as YAML's merge key specifies.
        return {**{k: v for k, v in merged.items() if k not in result}, **result}

    def _merge_sources(self, node: yaml.Node, path: FieldPath, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):  # earlier sources win
            value = self.convert(source, path, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            else:
                self._problem(
                    source, path, "a merge key (`<<`) takes a mapping or a list of mappings"
                )
        return merged


# Longest text a message quotes from a file: a word, a name, a number. The file may be no spec
# at all (a PR can point a spec path anywhere in the repository), so a message never quotes
# more than the offending token of it.
MAX_QUOTED = 64


def token(value: Any) -> str:
    """``value`` quoted in backticks when it is one short token (a word, a name, a number),
    else what it is (``a 3,000-character text``): no message copies more of a file."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float):
        return f"`{value}`" if len(str(value)) <= MAX_QUOTED else "a long number"
    if isinstance(value, str):
        if 0 < len(value) <= MAX_QUOTED and not any(c.isspace() for c in value):
            return f"`{value}`"
        return f"a {len(value):,}-character text"
    return "a list" if isinstance(value, list) else "a mapping"


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` (did you mean `x`?)`` when a close choice exists, else ""."""
    lowered = {choice.lower(): choice for choice in choices}
    if word.lower() in lowered:
        return f" (did you mean `{lowered[word.lower()]}`?)"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""
