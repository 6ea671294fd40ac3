"""Runbook parameters: declared types from the parameters cell, coercion, refusals; and
runbook discovery (``AGENCY_RUNBOOK_DIR``, else the repository's notebooks)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from agency.client.runbooks import (
    RunbookParameter,
    coerce_parameters,
    find_runbook,
    list_runbooks,
    read_parameters,
)
from agency.client.settings import RunbookSettings
from agency.errors import NotFound, ValidationFailed

EXPECTED = {
    "audit_review",
    "fleet_health",
    "incident_report",
    "saved_queries",
    "schedule_review",
    "stuck_task_triage",
    "task_replay",
    "workflows",
}


def param(kind: str, default: str = "None") -> RunbookParameter:
    return RunbookParameter("p", kind, default, "")


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("int", "3", 3),
        ("int", " -7 ", -7),
        ("float", "2", 2.0),
        ("float", "0.25", 0.25),
        ("bool", "true", True),
        ("bool", "No", False),
        ("bool", "1", True),
        ("str", "42", "42"),
        ("list", '["csv"]', ["csv"]),
        ("dict", '{"a": 1}', {"a": 1}),
        ("str | None", "null", None),
        ("str | None", "x", "x"),
        ("any", "[1, 2]", [1, 2]),
        ("any", "plain text", "plain text"),
        ("int", 5, 5),
        ("float", 5, 5.0),
    ],
)
def test_values_are_parsed_by_the_declared_type(kind: str, raw: object, value: object) -> None:
    got = param(kind).coerce(raw)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("int", "3.5"),
        ("int", "abc"),
        ("float", "fast"),
        ("bool", "maybe"),
        ("list", '{"a": 1}'),
        ("dict", "[1]"),
        ("list", "not json"),
        ("int", True),
        ("str", 3),
        ("int", "none"),
    ],
)
def test_wrong_types_are_refused(kind: str, raw: object) -> None:
    with pytest.raises(ValueError):
        param(kind).coerce(raw)


def test_undeclared_types_come_from_the_default_literal(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        'hours = 1.5  # window\nname = "x"\nn: int = 2\nwhen = compute()\n'
    )
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "p.ipynb")
    params = read_parameters(tmp_path / "p.ipynb")
    assert {k: p.type for k, p in params.items()} == {
        "hours": "float",
        "name": "str",
        "n": "int",
        "when": "any",
    }
    assert params["hours"].help == "window"


def test_every_problem_is_named_at_once() -> None:
    declared = {"hours": param("float"), "confirm": param("bool")}
    with pytest.raises(ValidationFailed) as info:
        coerce_parameters("book", declared, {"hours": "soon", "confirm": "yes", "colour": "red"})
    message = info.value.message
    assert "'hours' must be float, got 'soon'" in message
    assert "has no parameter 'colour' (its parameters: confirm, hours)" in message
    assert coerce_parameters("book", declared, {"hours": "2"}) == {"hours": 2.0}


def test_runbooks_are_listed_and_unknown_names_say_which_exist() -> None:
    settings = RunbookSettings.load(env={})
    assert {b.name for b in list_runbooks(settings)} == EXPECTED
    with pytest.raises(NotFound) as info:
        find_runbook("../etc/passwd", settings)
    assert "known runbooks: audit_review, fleet_health" in info.value.message
    book = find_runbook("stuck_task_triage", settings)
    assert book.summary == "Stuck task triage" and "confirm=True" in book.purpose
    assert book.parameters()["confirm"].type == "bool" and "url" not in book.parameters()


def test_a_runbook_dir_setting_replaces_the_repository_notebooks(tmp_path: Path) -> None:
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "mine.ipynb")
    assert [b.name for b in list_runbooks(RunbookSettings.load(env={}, runbook_dir=tmp_path))] == [
        "mine"
    ]
