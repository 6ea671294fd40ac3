"""The stored runbook notebooks' shape: clean, tagged, and client-only imports."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ALLOWED_AGENCY = {"agency.client", "agency.models"}


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
