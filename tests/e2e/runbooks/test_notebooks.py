"""Every runbook under nbval against the live, seeded control plane.

nbval runs as a pytest subprocess (``--nbval-lax``): each notebook top to bottom as stored,
with its defaults, its connection from the environment, and the ``# NBVAL_CHECK_OUTPUT`` cells
compared exactly with the outputs stored in the notebook (the only outputs stored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.runbooks.conftest import ROOT, Live

NOTEBOOKS = ROOT / "notebooks"


def nbval(live: Live, *paths: Path) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval-lax",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-q",
        "--rootdir",
        str(ROOT),
        *map(str, paths),
    ]
    return subprocess.run(
        argv, env=live.env(), cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def _code_cells(path: Path) -> int:
    return path.read_text().count('"cell_type": "code"')


@pytest.mark.slow
def test_every_runbook_passes_nbval(live: Live) -> None:
    books = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert len(books) == 8
    p = nbval(live, *books)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    passed = re.search(r"(\d+) passed", p.stdout)
    assert passed and int(passed.group(1)) == sum(_code_cells(b) for b in books), p.stdout[-2000:]


@pytest.mark.slow
def test_a_checked_cell_whose_output_changes_fails_nbval(live: Live, tmp_path: Path) -> None:
    wrong = tmp_path / "task_replay.ipynb"
    shutil.copy(NOTEBOOKS / "task_replay.ipynb", wrong)
    text = wrong.read_text()
    assert text.count("replay matches stored: True") == 1
    wrong.write_text(text.replace("replay matches stored: True", "replay matches stored: False"))
    p = nbval(live, wrong)
    assert p.returncode == 1 and "1 failed" in p.stdout, p.stdout[-3000:]
    assert "replay matches stored: False" in p.stdout
