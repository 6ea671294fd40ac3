"""Gates turn scanner findings into a verdict on a task's changed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from agency.errors import BadRequest
from agency.governance import evaluate_gates, evaluate_gates_on_contents

from .markers import NIE, TD, P


def test_placeholder_in_changed_file_requests_changes(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(f"def f() -> int:\n    return 1  # {TD}(#3): cache this\n")
    bad = tmp_path / "bad.py"
    bad.write_text(f"TOKEN = '{P}'\n\ndef g():\n    raise {NIE}\n")
    v = evaluate_gates(["placeholders"], [good, bad, tmp_path / "deleted.py"])
    assert v.verdict == "changes_requested"
    assert v.files_scanned == 2
    assert "2 critical finding(s)" in v.summary and f"{bad.as_posix()}:1" in v.summary
    assert "1 warning(s)" in v.summary
    assert {f.category.value for f in v.findings} == {
        "placeholder",
        "incomplete-implementation",
        "todo-with-requirement",
    }


def test_clean_files_are_approved(tmp_path: Path) -> None:
    ok = tmp_path / "ok.md"
    ok.write_text(f"Docs quoting `{P}` only.\n")
    v = evaluate_gates(["placeholders"], [str(ok)])
    assert v.verdict == "approved" and v.findings == [] and v.gates == ["placeholders"]


def test_no_gates_or_no_files_approve(tmp_path: Path) -> None:
    assert evaluate_gates([], [tmp_path / "x.py"]).verdict == "approved"
    assert evaluate_gates(["placeholders"], []).verdict == "approved"


def test_unknown_gate_refused() -> None:
    with pytest.raises(BadRequest, match="unknown gate"):
        evaluate_gates(["placeholders", "vibes"], [])


def test_gate_on_contents() -> None:
    v = evaluate_gates_on_contents(["placeholders"], {"a.py": "x = 1\n", "b.yaml": f"k: {P}\n"})
    assert v.verdict == "changes_requested" and v.findings[0].path == "b.yaml"
    assert evaluate_gates_on_contents(["placeholders"], {"a.py": "x = 1\n"}).verdict == "approved"
