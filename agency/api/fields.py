"""Validation errors in the user's terms: ``tasks[3].spec.argv: required``.

pydantic's locations carry its own machinery: ``body`` first, union members as tags
(``function-after[_valid_spec(), TaskSubmit]``, ``TaskBatch``, ``list[TaskSubmit]``), and its
messages name its types (``model_attributes_type``). This module turns a location into the
path a client wrote (fields joined by ``.``, list positions as ``[3]``) and an error type into
a short phrase, so no answer names pydantic's internals.
"""

from __future__ import annotations

import re
from typing import Any

from agency.models.tasks import SPEC_ERROR

# where a location starts; the parameter's own name is kept for query, path and header
_SOURCES = frozenset({"body"})
# a union member's tag: a class name, or a pydantic schema like `list[...]` / `function-after[...]`
_TAG = re.compile(r"^([A-Z][A-Za-z0-9_]*|[a-z-]+\[.*\]|.*[\[\](),].*)$")
# the bare list of tasks is written as the batch's `tasks` field, as the docs call it
_LIST_OF_TASKS = "list[TaskSubmit]"

_PHRASES: dict[str, str] = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "datetime_type": "must be an ISO 8601 date-time",
    "datetime_parsing": "must be an ISO 8601 date-time",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time",
    "union_tag_invalid": "must be an object or a list",
    "union_tag_not_found": "must be an object or a list",
}
# messages whose bounds matter: keep pydantic's text after its type's name is dropped
_KEEP_MESSAGE = ("too_short", "too_long", "greater_than", "less_than", "literal_error", "enum")


def field_path(loc: list[Any] | tuple[Any, ...]) -> str:
    """``("body", "TaskBatch", "tasks", 3, "spec")`` -> ``"tasks[3].spec"``; ``""`` for the body."""
    path = ""
    for i, part in enumerate(loc):
        if i == 0 and part in _SOURCES:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == _LIST_OF_TASKS:
            path += "tasks"
        elif _TAG.match(str(part)):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def phrase(error: dict[str, Any]) -> str:
    """A short, pydantic-free description of one error."""
    kind = str(error.get("type", ""))
    if kind in _PHRASES:
        return _PHRASES[kind]
    msg = str(error.get("msg", ""))
    if kind.startswith(_KEEP_MESSAGE) or kind == "value_error":
        return msg.removeprefix("Value error, ").replace("Input should", "should")
    return msg.replace("Input should", "should") or kind


def describe(error: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, problem) pairs of one pydantic error; a bad spec gives one pair per problem."""
    where = field_path(error.get("loc", ()))
    if error.get("type") == SPEC_ERROR:
        ctx = error.get("ctx") or {}
        inner = ctx.get("errors")
        prefix = f"{where}." if where else ""
        if not inner:  # the kind itself is unknown
            return [(f"{prefix}kind", str(ctx.get("message", error.get("msg", ""))))]
        return [(f"{prefix}spec" + _sub(e["loc"]), phrase(e)) for e in inner]
    return [(where or "body", phrase(error))]


def _sub(loc: list[Any]) -> str:
    return "".join(f"[{p}]" if str(p).isdigit() else f".{p}" for p in loc)
