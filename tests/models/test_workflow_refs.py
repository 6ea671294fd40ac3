"""The reference language of workflow templates: what it resolves, and what it refuses."""

from __future__ import annotations

import pytest

from agency.models.workflow_refs import RenderError, Scope, map_items, render
from agency.models.workflows import WorkflowStep


def scope(**kw: object) -> Scope:
    base: dict[str, object] = {
        "params": {"who": "ops", "n": 3, "files": ["a", "b"]},
        "outputs": {"one": ['{"x": {"y": [5, 6]}}'], "many": ["p", "q"]},
        "mapped": {"many": True},
    }
    base.update(kw)
    return Scope(**base)  # type: ignore[arg-type]


def test_references_resolve_inside_strings_and_nested_values() -> None:
    value = {
        "argv": ["echo", "{{ params.who }}-{{params.n}}", "{{ steps.one.json.x.y.1 }}"],
        "env": {"ALL": "{{ steps.many.output }}", "J": "{{ steps.one.json.x }}"},
    }
    assert render(value, scope()) == {
        "argv": ["echo", "ops-3", "6"],
        "env": {"ALL": '["p", "q"]', "J": '{"y": [5, 6]}'},
    }
    assert render("{{ item.k }}", scope(item={"k": "v"})) == "v"


def test_a_missing_path_or_non_json_output_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="no 'z'"):
        render("{{ steps.one.json.z }}", scope())
    with pytest.raises(RenderError, match="not JSON"):
        render("{{ steps.many.json }}", scope())


def test_map_items_from_a_list_or_a_reference() -> None:
    def step(m: object) -> WorkflowStep:
        return WorkflowStep.model_validate({"id": "s", "map": m, "task": {"kind": "noop"}})

    assert map_items(step([1, 2]), scope()) == [1, 2]
    assert map_items(step("{{ params.files }}"), scope()) == ["a", "b"]
    assert map_items(step("{{ steps.one.json.x.y }}"), scope()) == [5, 6]
    with pytest.raises(RenderError, match="not a list"):
        map_items(step("{{ params.who }}"), scope())
