"""Runbook parameters: what a notebook's ``parameters`` cell declares (papermill's parser),
and operator input (``-p name=value`` text, or values) checked and coerced against it."""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from papermill.translators import PythonTranslator

from agency.errors import ValidationFailed

_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}
_TRUE, _FALSE = frozenset({"true", "yes", "on", "1"}), frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True)
class RunbookParameter:
    """One parameter of a runbook's ``parameters`` cell: its type (from the annotation, else
    from the default's literal), its default as written, and its ``# help`` comment."""

    name: str
    type: str
    default: str
    help: str

    @property
    def accepts_none(self) -> bool:
        return "None" in self._parts or self.type == "any"

    @property
    def _parts(self) -> list[str]:
        return [p.strip() for p in self.type.split("|")]

    def coerce(self, value: Any) -> Any:
        """``value`` as this parameter's type (strings are parsed); ``ValueError`` if it is not one."""
        if (
            isinstance(value, str)
            and self.accepts_none
            and value.strip().lower() in ("none", "null")
        ):
            return None
        kinds = [p for p in self._parts if p != "None"]
        for kind in kinds:
            with contextlib.suppress(ValueError, TypeError):
                return _coerce_one(kind, value)
        raise ValueError(f"expected {self.type}")


def _coerce_one(kind: str, value: Any) -> Any:
    if kind not in _TYPES:  # an annotation we do not model (any, a class name): keep JSON or text
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(value)
        return value
    target = _TYPES[kind]
    if not isinstance(value, str):
        if isinstance(value, bool) and target is not bool:
            raise TypeError(kind)  # True is an int to Python, not to an operator
        if target is float and isinstance(value, int):
            return float(value)
        if isinstance(value, target):
            return value
        raise TypeError(kind)
    text = value.strip()
    if target is str:
        return value
    if target is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(kind)
    if target in (int, float):
        return target(text)
    parsed = json.loads(text)
    if not isinstance(parsed, target):
        raise ValueError(kind)
    return parsed


def _declared_type(inferred: str, default: str) -> str:
    if inferred and inferred != "None":
        return inferred
    try:
        literal = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return "any"
    name = type(literal).__name__
    return name if name in _TYPES else "any"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path``; ``ValidationFailed`` when it cannot be read as one."""
    try:
        # nbformat is untyped: its reader answers Any
        node: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        return node
    except (OSError, ValueError) as exc:  # NotJSONError and friends are ValueErrors
        raise ValidationFailed(
            f"runbook {path.stem!r} is not a readable notebook: {exc}", details={"path": str(path)}
        ) from exc


def read_parameters(path: Path) -> dict[str, RunbookParameter]:
    """The parameters of the notebook at ``path`` (papermill's parser of the tagged cell)."""
    nb = read_notebook(path)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return {}
    found = PythonTranslator.inspect(tagged[0])
    return {
        p.name: RunbookParameter(
            p.name,
            _declared_type(p.inferred_type_name or "", p.default or ""),
            p.default or "",
            p.help or "",
        )
        for p in found
    }


def coerce_parameters(
    book: str, declared: Mapping[str, RunbookParameter], raw: Mapping[str, Any]
) -> dict[str, Any]:
    """``raw`` checked against ``declared``: ``ValidationFailed`` names each unknown or mistyped one."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        param = declared.get(name)
        if param is None:
            known = ", ".join(sorted(declared)) or "(none)"
            problems.append(f"runbook {book!r} has no parameter {name!r} (its parameters: {known})")
            continue
        try:
            values[name] = param.coerce(value)
        except ValueError:
            problems.append(f"parameter {name!r} must be {param.type}, got {value!r}")
    if problems:
        raise ValidationFailed("; ".join(problems), details={"runbook": book, "problems": problems})
    return values
