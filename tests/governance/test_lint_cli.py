"""``agency lint``: output grouped by category, exit codes 0/1/2, ``--json``, ``--ignore``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from agency.cli import app

from .markers import NIE, TD, P

runner = CliRunner()


def tree(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ok.py").write_text(f"x = 1  # {TD}: explain the retry policy here\n")
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "bad.py").write_text(f"# {P}\n\ndef f():\n    raise {NIE}\n")
    return tmp_path


def test_exit_1_on_critical_with_file_and_line(tmp_path: Path) -> None:
    root = tree(tmp_path)
    res = runner.invoke(app, ["lint", str(root)])
    assert res.exit_code == 1
    bad = (root / "fixtures" / "bad.py").as_posix()
    assert "placeholder (critical): 1" in res.stdout and f"{bad}:1" in res.stdout
    assert "incomplete-implementation (critical): 1" in res.stdout and f"{bad}:3" in res.stdout
    assert "todo-with-requirement (warning): 1" in res.stdout
    assert "FAILED" in res.stderr


def test_exit_0_on_warnings_only_and_ignore(tmp_path: Path) -> None:
    root = tree(tmp_path)
    res = runner.invoke(app, ["lint", str(root), "--ignore", "fixtures"])
    assert res.exit_code == 0, res.stdout
    assert "0 critical, 1 warning" in res.stdout


def test_exit_2_on_bad_input(tmp_path: Path) -> None:
    assert runner.invoke(app, ["lint", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["lint"]).exit_code == 2
    assert runner.invoke(app, ["lint", str(tmp_path), "--bogus"]).exit_code == 2


def test_json(tmp_path: Path) -> None:
    res = runner.invoke(app, ["lint", str(tree(tmp_path)), "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["files_scanned"] == 2
    assert doc["counts"] == {"critical": 2, "warning": 1, "info": 0}
    assert {(f["category"], f["line"]) for f in doc["findings"]} == {
        ("placeholder", 1),
        ("incomplete-implementation", 3),
        ("todo-with-requirement", 1),
    }


def test_the_real_command_on_the_project() -> None:
    """What CI runs: `agency lint agency dashboards` in a real process, exit 0."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "agency", "lint", "agency", "dashboards"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 critical" in proc.stdout
