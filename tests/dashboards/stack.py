"""A live system for the dashboard tests and benchmark: ``agency up`` (control plane and two
real workers, no dashboard) and ``panel serve dashboards/app.py`` pointed at it, each a real
process on free 127.0.0.1 ports, stopped by pid at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agency.client import AgencyClient
from tests.helpers.procs import free_port, free_ports

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN_TOKEN = "dashboard-tests-admin-token"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; bounded in time, says what it waited for."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as exc:  # not up yet: keep polling until the deadline
            last = exc
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


@dataclass
class Stack:
    """The running processes' URLs, the admin client and where the logs go."""

    api_url: str
    dashboard_url: str
    data_dir: Path
    client: AgencyClient

    def page(self, name: str = "overview") -> str:
        return f"{self.dashboard_url}/app?page={name}"


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@contextmanager
def running_stack(
    data_dir: Path, workers: int = 2, capacity: int = 4, extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Start control plane + workers, then the dashboard; yield; stop both (dashboard first)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    api_port, dash_port = free_port(), free_port()
    env = {
        **os.environ,
        "AGENCY_ADMIN_TOKEN": ADMIN_TOKEN,
        "AGENCY_DATA_DIR": str(data_dir),
        "AGENCY_WORKER_BASE_PORT": str(free_ports(max(workers, 1))),
        "AGENCY_WORKER_CAPACITY": str(capacity),
        "AGENCY_KPI_SAMPLE_INTERVAL": "1",
        "AGENCY_CANCEL_GRACE": "2",
        **(extra_env or {}),
    }
    api_url = f"http://127.0.0.1:{api_port}"
    up_log = open(data_dir / "up.log", "wb")  # noqa: SIM115  (closed after the process stops)
    up = subprocess.Popen(
        [
            str(BIN / "agency"),
            "up",
            "--port",
            str(api_port),
            "--workers",
            str(workers),
            "--data-dir",
            str(data_dir),
            "--no-dashboard",
        ],
        cwd=ROOT,
        env=env,
        stdout=up_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    dash: subprocess.Popen[bytes] | None = None
    try:
        client = AgencyClient(url=api_url, token=ADMIN_TOKEN)
        wait_for(
            lambda: httpx.get(f"{api_url}/health", timeout=2).status_code == 200,
            60,
            "the control plane",
        )
        wait_for(
            lambda: sum(1 for _ in _worker_ids(client)) >= workers,
            60,
            f"{workers} workers to register",
        )
        dash_env = {**env, "AGENCY_URL": api_url, "AGENCY_TOKEN": ADMIN_TOKEN}
        dash_log = open(data_dir / "dashboard.log", "wb")  # noqa: SIM115
        dash = subprocess.Popen(
            [
                str(BIN / "panel"),
                "serve",
                str(ROOT / "dashboards" / "app.py"),
                "--address",
                "127.0.0.1",
                "--port",
                str(dash_port),
                "--allow-websocket-origin",
                f"127.0.0.1:{dash_port}",
                "--num-procs",
                "1",
            ],
            cwd=ROOT,
            env=dash_env,
            stdout=dash_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        dash_url = f"http://127.0.0.1:{dash_port}"
        wait_for(
            lambda: httpx.get(f"{dash_url}/app", timeout=10).status_code == 200, 60, "the dashboard"
        )
        yield Stack(api_url=api_url, dashboard_url=dash_url, data_dir=data_dir, client=client)
    finally:
        if dash is not None:
            stop_process(dash)
        stop_process(up, grace=30)
        up_log.close()


def _worker_ids(client: AgencyClient) -> list[str]:
    df = client.workers()
    return [] if df is None or len(df) == 0 else list(df["id"])
