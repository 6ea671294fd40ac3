"""The checks of a workflow definition at submit, and the reference language of its templates.

A template string may hold ``{{ params.<name> }}``, ``{{ steps.<id>.output }}`` (the step's
stdout, trimmed; a list of them for a mapped step), ``{{ steps.<id>.json }}`` or
``{{ steps.<id>.json.<path> }}`` (the stdout parsed as JSON, then keys or list indexes), and
in a mapped step ``{{ item }}`` or ``{{ item.<path> }}``. Nothing else is evaluated: this is a
lookup, not a template engine, so a definition can never run code in the control plane.

``check_definition`` refuses, with a 422 whose details name the step and the field: a
duplicate id, an unknown ``needs``, a cycle, a reference to a step outside the step's
transitive needs, an unknown param, or ``item`` outside a mapped step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agency.errors import ValidationFailed
from agency.models.workflows import WorkflowSpec, WorkflowStep

REF = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class RenderError(ValueError):
    """A reference that cannot be resolved at run time (a missing JSON key, bad JSON)."""


def _refused(message: str, step: str | None, where: str) -> ValidationFailed:
    details: dict[str, Any] = {"field": where}
    if step is not None:
        details["step"] = step
    return ValidationFailed(message, details=details)


def strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` (dicts, lists) with where it is."""
    if isinstance(value, str):
        yield value, where
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{where}[{i}]")


def references(text: str) -> list[list[str]]:
    """The references of ``text``, each split at its dots."""
    return [m.group(1).split(".") for m in REF.finditer(text)]


def needs_closure(spec: WorkflowSpec) -> dict[str, set[str]]:
    """Each step's transitive needs (the definition must be acyclic)."""
    by_id = {s.id: s for s in spec.steps}
    done: dict[str, set[str]] = {}

    def visit(step_id: str) -> set[str]:
        if step_id not in done:
            found: set[str] = set()
            for need in by_id[step_id].needs:
                found |= {need, *visit(need)}
            done[step_id] = found
        return done[step_id]

    for s in spec.steps:
        visit(s.id)
    return done


def _find_cycle(spec: WorkflowSpec) -> list[str] | None:
    """A cycle of step ids (first repeated last), or ``None``."""
    by_id = {s.id: s for s in spec.steps}
    color: dict[str, int] = {}
    path: list[str] = []

    def dfs(step_id: str) -> list[str] | None:
        color[step_id] = 1
        path.append(step_id)
        for need in by_id[step_id].needs:
            if color.get(need) == 1:
                return [*path[path.index(need) :], need]
            if need not in color and (cycle := dfs(need)) is not None:
                return cycle
        path.pop()
        color[step_id] = 2
        return None

    for s in spec.steps:
        if s.id not in color and (cycle := dfs(s.id)) is not None:
            return cycle
    return None


def check_definition(spec: WorkflowSpec, params: Mapping[str, Any] | None = None) -> None:
    """Refuse a definition that cannot run (see the module docstring); ``params`` are the
    names a run has (the definition's own by default)."""
    known = set(spec.params if params is None else params)
    ids: dict[str, int] = {}
    for i, s in enumerate(spec.steps):
        if s.id in ids:
            raise _refused(f"step {s.id!r} is defined twice", s.id, f"steps[{i}].id")
        ids[s.id] = i
    for i, s in enumerate(spec.steps):
        for j, need in enumerate(s.needs):
            if need not in ids:
                raise _refused(
                    f"step {s.id!r} needs {need!r}, which is not a step of this workflow",
                    s.id,
                    f"steps[{i}].needs[{j}]",
                )
            if need == s.id:
                raise _refused(f"step {s.id!r} needs itself", s.id, f"steps[{i}].needs[{j}]")
    cycle = _find_cycle(spec)
    if cycle is not None:
        raise _refused(
            f"steps form a cycle: {' -> '.join(cycle)} (step {cycle[0]!r})",
            cycle[0],
            f"steps[{ids[cycle[0]]}].needs",
        )
    closure = needs_closure(spec)
    for i, s in enumerate(spec.steps):
        _check_step(s, i, closure[s.id], known)


def _check_step(step: WorkflowStep, index: int, upstream: set[str], known: set[str]) -> None:
    places = list(strings(step.task.model_dump(mode="json"), f"steps[{index}].task"))
    if isinstance(step.map, str):
        places.append((step.map, f"steps[{index}].map"))
    for text, where in places:
        for ref in references(text):
            _check_ref(ref, step, upstream, known, where)


def _check_ref(
    ref: list[str], step: WorkflowStep, upstream: set[str], known: set[str], where: str
) -> None:
    shown = "{{ " + ".".join(ref) + " }}"
    if any(not _SEGMENT.match(p) for p in ref):
        raise _refused(f"step {step.id!r}: {shown} is not a reference", step.id, where)
    head = ref[0]
    if head == "params" and len(ref) >= 2:
        if ref[1] not in known:
            raise _refused(
                f"step {step.id!r} references the unknown param {ref[1]!r}; params: "
                f"{', '.join(sorted(known)) or 'none'}",
                step.id,
                where,
            )
        return
    if head == "item":
        if step.map is None:
            raise _refused(f"step {step.id!r} references {shown} but has no map", step.id, where)
        return
    if head == "steps" and len(ref) >= 3 and ref[2] in ("output", "json"):
        if ref[2] == "output" and len(ref) > 3:
            raise _refused(f"step {step.id!r}: {shown}: output has no fields", step.id, where)
        if ref[1] not in upstream:
            raise _refused(
                f"step {step.id!r} references step {ref[1]!r}, which it does not depend on "
                "(add it to needs)",
                step.id,
                where,
            )
        return
    raise _refused(
        f"step {step.id!r}: {shown} is not a reference (params.<name>, steps.<id>.output, "
        "steps.<id>.json[.<path>], item[.<path>])",
        step.id,
        where,
    )


@dataclass
class Scope:
    """What a step's references resolve to: params, finished steps' outputs, the map item."""

    params: Mapping[str, Any]
    outputs: Mapping[str, list[str]]
    mapped: Mapping[str, bool] = field(default_factory=dict)
    item: Any = None

    def lookup(self, ref: list[str]) -> Any:
        head = ref[0]
        if head == "params":
            return _walk(self.params[ref[1]], ref[2:], ref)
        if head == "item":
            return _walk(self.item, ref[1:], ref)
        outs = self.outputs.get(ref[1], [])
        many = self.mapped.get(ref[1], False)
        if ref[2] == "output":
            return outs if many else (outs[0] if outs else "")
        try:
            parsed = [json.loads(o) for o in outs]
        except json.JSONDecodeError as exc:
            raise RenderError(f"the output of step {ref[1]!r} is not JSON: {exc}") from exc
        return _walk(parsed if many else (parsed[0] if parsed else None), ref[3:], ref)


def _walk(value: Any, path: list[str], ref: list[str]) -> Any:
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            raise RenderError(f"{{{{ {'.'.join(ref)} }}}}: no {part!r} in {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def as_text(value: Any) -> str:
    """A resolved value inside a string: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def render(value: Any, scope: Scope) -> Any:
    """``value`` with every reference in its strings replaced (``RenderError`` if one fails)."""
    if isinstance(value, str):
        return REF.sub(lambda m: as_text(scope.lookup(m.group(1).split("."))), value)
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value


def map_items(step: WorkflowStep, scope: Scope) -> list[Any] | None:
    """The items a mapped step fans out over (``None`` for a step without ``map``)."""
    if step.map is None:
        return None
    if isinstance(step.map, list):
        return list(step.map)
    whole = REF.fullmatch(step.map.strip())
    value: Any = scope.lookup(whole.group(1).split(".")) if whole else render(step.map, scope)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RenderError(f"map of step {step.id!r} is not a list: {_short(value)}") from exc
    if not isinstance(value, list):
        raise RenderError(f"map of step {step.id!r} is not a list: {_short(value)}")
    return value
