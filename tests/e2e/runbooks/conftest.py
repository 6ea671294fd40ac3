"""One control plane with two real workers for the runbook tests, seeded once per package.

The control plane runs in this process (``agency.testing.serve``); notebooks, papermill
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
from typer.testing import CliRunner

from agency.cli import app
from agency.client import AgencyClient
from agency.testing import ADMIN, Stack, clean_env, serve
from tests.e2e.runbooks.seed import MISFIRE_GRACE, Seeded, seed, seed_schedules

ROOT = Path(__file__).resolve().parents[3]
AGENCY = Path(sys.executable).parent / "agency"


@dataclass
class Live:
    """The running stack, its seeded tasks and the environment a runbook runner gets."""

    stack: Stack
    seeded: Seeded
    data_dir: Path

    def env(self, token: str = ADMIN, **extra: str) -> dict[str, str]:
        return clean_env(
            {
                "AGENCY_URL": self.stack.url,
                "AGENCY_TOKEN": token,
                "AGENCY_DATA_DIR": str(self.data_dir),
                **extra,
            }
        )

    def client(self, token: str = ADMIN) -> AgencyClient:
        return AgencyClient(self.stack.url, token)

    def agency(self, *args: str, token: str = ADMIN, **extra: str) -> Outcome:
        """``agency <args>`` in this process (typer's runner; kernels are still real processes),
        with this stack's connection in the environment and no other ``AGENCY_*`` leaking in."""
        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AGENCY_")}
        env.update({k: v for k, v in self.env(token, **extra).items() if k.startswith("AGENCY_")})
        result = CliRunner().invoke(app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    def agency_process(self, *args: str, timeout: float = 180.0) -> Outcome:
        """``agency <args>`` as a real subprocess (the installed console script)."""
        p = subprocess.run(
            [str(AGENCY), *args],
            env=self.env(),
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Outcome(p.returncode, p.stdout, p.stderr)


@dataclass(frozen=True)
class Outcome:
    """Exit code and output of one ``agency`` command."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("runbooks")
    # the workers heartbeat at their default 2 s: the control plane must expect that cadence
    with serve(
        root / "cp",
        workers=2,
        heartbeat_interval=2.0,
        kpi_sample_interval=1.0,
        schedule_misfire_grace=MISFIRE_GRACE,
    ) as stack:
        with stack.client() as client:
            seeded = seed(client)
        seed_schedules(stack)
        data_dir = root / "runner"
        data_dir.mkdir()
        yield Live(stack, seeded, data_dir)
