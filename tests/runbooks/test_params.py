"""Runbook parameters: declared types from the parameters cell, coercion, refusals; and the
stored notebooks' shape (clean, tagged, client-only imports)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from agency.errors import NotFound, ValidationFailed
from agency.runbooks import (
    RunbookParameter,
    coerce_parameters,
    find_runbook,
    list_runbooks,
    read_parameters,
)
from agency.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {
    "audit_review",
    "fleet_health",
    "incident_report",
    "saved_queries",
    "stuck_task_triage",
    "task_replay",
}
ALLOWED_AGENCY = {"agency.client", "agency.models"}


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
    settings = Settings.load(env={})
    assert {b.name for b in list_runbooks(settings)} == EXPECTED
    with pytest.raises(NotFound) as info:
        find_runbook("../etc/passwd", settings)
    assert "known runbooks: audit_review, fleet_health" in info.value.message
    book = find_runbook("stuck_task_triage", settings)
    assert book.summary == "Stuck task triage" and "confirm=True" in book.purpose
    assert book.parameters()["confirm"].type == "bool" and "url" not in book.parameters()


def test_a_runbook_dir_setting_replaces_the_repository_notebooks(tmp_path: Path) -> None:
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "mine.ipynb")
    assert [b.name for b in list_runbooks(Settings.load(env={}, runbook_dir=tmp_path))] == ["mine"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_stored_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    assert nb.cells[0].cell_type == "markdown" and "When to use it" in nb.cells[0].source
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert (
        'os.environ.get("AGENCY_URL"' in tagged[0].source
        and 'os.environ.get("AGENCY_TOKEN"' in tagged[0].source
    )
    checked = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert set(cell.metadata) <= {"tags"}
        if cell.source.startswith("# NBVAL_CHECK_OUTPUT"):
            checked += 1
            assert [o["output_type"] for o in cell.outputs] == ["stream"]
        else:  # only what nbval compares is stored
            assert cell.outputs == [] and cell.execution_count is None
    assert checked >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_use_the_client_never_storage_or_api(path: Path) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                if name.split(".")[0] == "agency":
                    assert name in ALLOWED_AGENCY, f"{path.name} imports {name}"
