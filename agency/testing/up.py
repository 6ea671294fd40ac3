"""``agency up`` as a real subprocess: the control plane in its own process and event loop, as
in production, on free 127.0.0.1 ports, with only the settings it is given.

    from agency.testing import start_control_plane
    up = start_control_plane(tmp_path, workers=2, settings={"AGENCY_ADMIN_TOKEN": "t"})
    ...                                   # up.url answers, both workers are healthy
    up.stop()                             # SIGTERM: the exit code (SIGKILL to its group if stuck)
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from agency.testing.ports import free_port, free_ports
from agency.testing.processes import clean_env, stop_process

__all__ = ["UpProcess", "start_control_plane"]


@dataclass
class UpProcess:
    """A running ``agency up``: its process, API URL, data dir and log (stdout and stderr)."""

    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, grace: float = 60.0) -> int:
        """SIGTERM (it stops its workers and dashboard, then exits); SIGKILL to its process
        group after ``grace`` seconds. The exit code."""
        return stop_process(self.proc, grace)


def _healthy_workers(url: str) -> int | None:
    """How many workers ``/health`` calls healthy; ``None`` while it does not answer."""
    try:
        body = httpx.get(url + "/health", timeout=1).json()
        return int(body["components"]["workers"]["details"].get("healthy", 0))
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return None


def start_control_plane(
    data_dir: Path,
    workers: int = 0,
    settings: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    worker_base_port: int | None = None,
    dashboard_port: int | None = None,
    timeout: float = 90.0,
) -> UpProcess:
    """``agency up`` with ``settings`` as its only ``AGENCY_*`` environment; returns once its
    API answers and ``workers`` local workers are healthy.

    Ports not given are free ones; without ``dashboard_port`` it serves no dashboard. The
    process leads its own session, so ``stop`` can end everything it started.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    base = worker_base_port or free_ports(max(workers, 1))
    argv = [sys.executable, "-m", "agency", "up", "--port", str(port)]
    argv += ["--workers", str(workers), "--worker-base-port", str(base)]
    argv += ["--data-dir", str(data_dir)]
    argv += (
        ["--no-dashboard"] if dashboard_port is None else ["--dashboard-port", str(dashboard_port)]
    )
    log = data_dir / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(settings),
            start_new_session=True,
        )
    up = UpProcess(proc, f"http://127.0.0.1:{port}", data_dir, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        healthy = _healthy_workers(up.url)
        if healthy is not None and healthy >= workers:
            return up
        time.sleep(0.1)
    up.stop(grace=10)
    raise RuntimeError(f"the control plane did not start:\n{up.read_log()}")
