"""A live system for the dashboard's browser tests and benchmark: ``agency up`` (control plane
and real workers, no dashboard of its own) and ``panel serve`` of the dashboard app pointed at
it, each a real process on free 127.0.0.1 ports, stopped by pid at the end.

The browser itself is the caller's (Playwright): this module only holds the flags headless
Chromium runs with, so importing it needs neither Playwright nor a browser.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from agency.cli.up import DEFAULT_DASHBOARD_APP
from agency.client import AgencyClient
from agency.testing.ports import free_port
from agency.testing.processes import BIN, clean_env, stop_process
from agency.testing.up import start_control_plane
from agency.testing.waiting import wait_for

__all__ = ["CHROMIUM_ARGS", "DASHBOARD_ADMIN_TOKEN", "DashboardStack", "running_stack"]

DASHBOARD_ADMIN_TOKEN = "dashboard-tests-admin-token"
#: headless Chromium without the background traffic that would make timings noisy
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


@dataclass
class DashboardStack:
    """The running processes' URLs, the admin client and where the logs go."""

    api_url: str
    dashboard_url: str
    data_dir: Path
    client: AgencyClient

    def page(self, name: str = "overview") -> str:
        """The URL of one dashboard page."""
        return f"{self.dashboard_url}/app?page={name}"


@contextmanager
def running_stack(
    data_dir: Path, workers: int = 2, capacity: int = 4, extra_env: dict[str, str] | None = None
) -> Iterator[DashboardStack]:
    """Start control plane + workers, then the dashboard; yield; stop both (dashboard first).

    ``extra_env`` adds ``AGENCY_*`` settings to both processes.
    """
    settings = {
        "AGENCY_ADMIN_TOKEN": DASHBOARD_ADMIN_TOKEN,
        "AGENCY_DATA_DIR": str(data_dir),
        "AGENCY_WORKER_CAPACITY": str(capacity),
        "AGENCY_KPI_SAMPLE_INTERVAL": "1",
        "AGENCY_CANCEL_GRACE": "2",
        **(extra_env or {}),
    }
    up = start_control_plane(data_dir, workers, settings)
    dash: subprocess.Popen[bytes] | None = None
    try:
        dash_port = free_port()
        dash_env = clean_env(
            {**settings, "AGENCY_URL": up.url, "AGENCY_TOKEN": DASHBOARD_ADMIN_TOKEN}
        )
        with (data_dir / "dashboard.log").open("wb") as log:
            dash = subprocess.Popen(
                [
                    str(BIN / "panel"),
                    "serve",
                    str(DEFAULT_DASHBOARD_APP),
                    "--address",
                    "127.0.0.1",
                    "--port",
                    str(dash_port),
                    "--allow-websocket-origin",
                    f"127.0.0.1:{dash_port}",
                    "--num-procs",
                    "1",
                ],
                env=dash_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        dash_url = f"http://127.0.0.1:{dash_port}"
        wait_for(
            lambda: httpx.get(f"{dash_url}/app", timeout=10).status_code == 200, 60, "the dashboard"
        )
        client = AgencyClient(url=up.url, token=DASHBOARD_ADMIN_TOKEN)
        yield DashboardStack(
            api_url=up.url, dashboard_url=dash_url, data_dir=data_dir, client=client
        )
    finally:
        if dash is not None:
            stop_process(dash)
        up.stop(grace=30)
