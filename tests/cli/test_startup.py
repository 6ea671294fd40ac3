"""The CLI starts like a CLI: building it imports none of the heavy packages.

Not timed (benchmarks/bench_cli.py reports the times): what is loaded is checked instead,
from ``python -X importtime`` of a fresh process, so an eager import anywhere under
``agency.cli`` fails here whatever the machine's speed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

# each costs from 0.1 s (fastapi) to over 1 s (nbformat's schema validator) at start-up
HEAVY = ("pandas", "papermill", "nbformat", "duckdb", "fastapi")


def loaded_packages(*argv: str) -> set[str]:
    """Top-level packages a fresh ``python -X importtime ARGV`` imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", done.stderr, re.M)
    assert names, "no -X importtime lines read"
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "agency", "--help"],
        ["-m", "agency", "task", "--help"],
        ["-m", "agency", "up", "--help"],
        ["-m", "agency", "schedule", "--help"],
        ["-c", "import agency.cli"],
    ],
    ids=["help", "task-help", "up-help", "schedule-help", "import"],
)
def test_building_the_cli_imports_no_heavy_package(argv: list[str]) -> None:
    heavy = sorted(set(HEAVY) & loaded_packages(*argv))
    assert not heavy, (
        f"{' '.join(argv)} imported {heavy}: import them in the command that uses them"
    )


def test_the_check_sees_an_eager_import() -> None:
    # the check itself must not pass vacuously: a command that runs does load them
    assert {"pandas", "duckdb"} <= loaded_packages("-c", "import agency.cli.db, agency.storage")
