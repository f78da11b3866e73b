"""Validating positioned YAML documents against our JSON Schemas, with messages people can act on.

This module owns two things: loading the schema files (``load_schema``; ``schema_files``
finds them) and turning
``jsonschema`` errors into ``Diagnostic`` values positioned at the offending key or value.
Messages are written here from the error's keyword, never copied from the library's
``repr``-style text; a subschema may carry ``errorMessage`` (the keyword yaml-language-server
also shows in editors) to replace the message of its own failures.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from reconciler.core.diagnostics import Diagnostic
from reconciler.yamlio import schema_files
from reconciler.yamlio.yaml_source import (
    YAML11_BOOLEAN_WORDS,
    FieldPath,
    YamlDocument,
    did_you_mean,
    format_path,
)

_SCHEMA_DIRS = schema_files.SCHEMA_DIRS


def schema_path(name: str) -> Path:
    """The file of schema ``name`` (e.g. ``finetune.schema.json``): checkout first, else package."""
    return schema_files.schema_path(name, _SCHEMA_DIRS)


# Keywords whose failure an ``errorMessage`` on the same subschema replaces.
_REPLACEABLE = {
    "type",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "not",
    "minimum",
    "maximum",
}


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed JSON Schema ``name``."""
    with schema_path(name).open(encoding="utf-8") as stream:
        schema: dict[str, Any] = json.load(stream)
    return schema


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def schema_diagnostics(document: YamlDocument, schema_name: str) -> list[Diagnostic]:
    """Every schema violation of ``document``, deduplicated, each at its key or value."""
    errors = list(_validator(schema_name).iter_errors(document.value))
    # A value of the wrong type fails its other rules too; the type is the one to report.
    mistyped = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    found: dict[Diagnostic, None] = {}
    for error in errors:
        if tuple(error.absolute_path) in mistyped and error.validator != "type":
            continue
        if tuple(error.absolute_path) in document.reported:
            continue  # its value was found wrong reading the YAML, and said so
        for diagnostic in _translate(document, error, load_schema(schema_name)):
            found.setdefault(diagnostic, None)
    return list(found)


def _translate(
    document: YamlDocument, error: ValidationError, root: dict[str, Any]
) -> list[Diagnostic]:
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    keyword = str(error.validator)
    custom = schema.get("errorMessage")
    if isinstance(custom, str) and keyword in _REPLACEABLE:
        return [document.diagnostic(path, custom, at_key=keyword == "not")]
    if keyword == "required":
        return _missing(document, path, error, schema, root)
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return _unknown(document, path, error.instance, schema)
    if error.context:
        # anyOf/oneOf: the deepest failure is the one closest to what the user meant.
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        return _translate(document, deepest, root)
    return [document.diagnostic(path, _message(document, path, keyword, error, schema))]


def _missing(
    document: YamlDocument,
    path: FieldPath,
    error: ValidationError,
    schema: dict[str, Any],
    root: dict[str, Any],
) -> list[Diagnostic]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    properties = schema.get("properties", {})
    if not path:  # a provider branch requires a field the top level describes
        properties = {**root.get("properties", {}), **properties}
    # A subschema that only requires (a rule across fields, under if/then) may say why.
    custom = schema.get("errorMessage") if "properties" not in schema else None
    diagnostics = []
    required: Any = error.validator_value
    for name in required:
        if name in instance:
            continue
        title = properties.get(name, {}).get("title") if isinstance(properties, dict) else None
        hint = f" ({title})" if title else ""
        where = document.value_at(path)
        diagnostics.append(
            Diagnostic(
                document.file,
                where.line,
                where.col,
                _join(path, name),
                custom if isinstance(custom, str) else f"missing required field `{name}`{hint}",
            )
        )
    return diagnostics


def _unknown(
    document: YamlDocument, path: FieldPath, instance: Any, schema: dict[str, Any]
) -> list[Diagnostic]:
    if not isinstance(instance, dict):
        return []
    properties = schema.get("properties", {})
    allowed = [
        name
        for name, sub in properties.items()
        if not (isinstance(sub, dict) and "not" in sub and sub.get("not") == {})
    ]
    diagnostics = []
    for key in instance:
        if key in properties:
            continue
        where = f" in `{format_path(path)}`" if path else ""
        message = f"unknown field `{key}`{where}{did_you_mean(key, allowed)}"
        if allowed and len(allowed) <= 25:
            message += f"; allowed: {', '.join(allowed)}"
        diagnostics.append(document.diagnostic((*path, key), message, at_key=True))
    return diagnostics


def _message(
    document: YamlDocument,
    path: FieldPath,
    keyword: str,
    error: ValidationError,
    schema: dict[str, Any],
) -> str:
    value: Any = error.instance
    rule: Any = error.validator_value
    if keyword == "type":
        wanted = rule if isinstance(rule, list) else [rule]
        message = (
            f"expected {' or '.join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)},"
            f" got {_describe(value)}"
        )
        if value is None:
            message += "; give it a value or remove the key"
        elif "string" in wanted and path in document.plain_scalars and not isinstance(value, str):
            message += "; put the value in quotes to keep it as text"
        elif "boolean" in wanted and isinstance(value, str):
            message += "; write true or false"
            if value.lower() in YAML11_BOOLEAN_WORDS:
                # The YAML 1.1 habit: editors (YAML 1.2) show these as text, and so do we.
                message += f" (YAML 1.2 reads `{_show(value)}` as text, not as a boolean)"
        return message
    if keyword == "enum":
        choices = [str(choice) for choice in rule]
        hint = did_you_mean(str(value), choices)
        return f"`{_show(value)}` is not one of {', '.join(choices)}{hint}"
    if keyword == "const":
        return f"must be `{_show(rule)}`, not `{_show(value)}`"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{_show(value)} is out of range: {_range(schema)}"
    if keyword == "minLength":
        return "must not be empty" if rule == 1 else f"must be at least {rule} characters"
    if keyword == "maxLength":
        return f"is {len(value)} characters; at most {rule} are allowed"
    if keyword == "pattern":
        return f"`{_show(value)}` does not match the pattern {rule}"
    if keyword == "minItems":
        return f"needs at least {rule} item{'s' if rule != 1 else ''}"
    if keyword == "uniqueItems":
        return "has repeated items; list each one once"
    if keyword == "not":
        return "is not allowed here"
    return error.message


def _range(schema: dict[str, Any]) -> str:
    parts = []
    if "minimum" in schema:
        parts.append(f">= {_show(schema['minimum'])}")
    if "exclusiveMinimum" in schema:
        parts.append(f"> {_show(schema['exclusiveMinimum'])}")
    if "maximum" in schema:
        parts.append(f"<= {_show(schema['maximum'])}")
    if "exclusiveMaximum" in schema:
        parts.append(f"< {_show(schema['exclusiveMaximum'])}")
    return "must be " + " and ".join(parts)


_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {_show(value)}"
    if isinstance(value, int | float):
        return f"the number {_show(value)}"
    if isinstance(value, str):
        return f"the text `{_show(value)}`"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # 0.00005, not 5e-05
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: FieldPath, name: str) -> str:
    return format_path((*path, name))
