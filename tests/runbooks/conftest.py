"""One control plane with two real workers for the runbook tests, seeded once per package.

The control plane runs in this process (``tests.api.stack.serve``); notebooks, papermill
kernels and ``agency runbook`` run as real subprocesses talking to it over HTTP, with the
connection in their environment (``AGENCY_URL``/``AGENCY_TOKEN``) exactly like an operator's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agency.client import AgencyClient
from tests.api.stack import ADMIN, Stack, serve
from tests.runbooks.seed import Seeded, seed

ROOT = Path(__file__).resolve().parents[2]
AGENCY = Path(sys.executable).parent / "agency"


@dataclass
class Live:
    """The running stack, its seeded tasks and the environment a runbook runner gets."""

    stack: Stack
    seeded: Seeded
    data_dir: Path

    def env(self, token: str = ADMIN, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
        env.update({"AGENCY_URL": self.stack.url, "AGENCY_TOKEN": token, "AGENCY_DATA_DIR": str(self.data_dir)})
        env.update(extra)
        return env

    def client(self, token: str = ADMIN) -> AgencyClient:
        return AgencyClient(self.stack.url, token)

    def agency(self, *args: str, token: str = ADMIN, timeout: float = 180.0,
               **extra: str) -> subprocess.CompletedProcess[str]:
        """``agency <args>`` as a subprocess with this stack's connection in its environment."""
        return subprocess.run([str(AGENCY), *args], env=self.env(token, **extra), cwd=self.data_dir,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("runbooks")
    # the workers heartbeat at their default 2 s: the control plane must expect that cadence
    with serve(root / "cp", workers=2, heartbeat_interval=2.0, kpi_sample_interval=1.0) as stack:
        with stack.client() as client:
            seeded = seed(client)
        data_dir = root / "runner"
        data_dir.mkdir()
        yield Live(stack, seeded, data_dir)
