"""``agency up`` end to end: a real subprocess with a temporary data dir and free ports;
a shell task submitted through the client succeeds, the dashboard answers; SIGTERM stops
everything it started. Which dashboard app it serves, and a wrong one refused."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from agency.cli.up import DEFAULT_DASHBOARD_APP, dashboard_app
from agency.cli.up import app as up_app
from agency.client import AgencyClient
from agency.errors import ConfigError
from agency.models import TaskState
from agency.settings import Settings
from agency.testing import free_port, start_control_plane

ROOT = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (read from /proc: psutil is not installed)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state == "Z"


@pytest.mark.slow
def test_agency_up_runs_a_task_and_stops_cleanly(tmp_path: Path) -> None:
    wport, dport = free_port(), free_port()
    up = start_control_plane(
        tmp_path / "data",
        workers=1,
        settings={"AGENCY_LOG_LEVEL": "WARNING", "AGENCY_CANCEL_GRACE": "2"},
        worker_base_port=wport,
        dashboard_port=dport,
        timeout=60,
    )
    url, log = up.url, up.log
    try:
        token_file = tmp_path / "data" / "admin.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        with AgencyClient(url, token_file.read_text().strip()) as client:
            deadline = time.monotonic() + 60
            while client.health().components["workers"].details.get("healthy", 0) < 1:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            task = client.submit("shell", {"argv": ["echo", "up"]})
            done = client.wait(task.id, 60)
            assert done.state is TaskState.SUCCEEDED and client.output(task.id).data == "up\n"
        kids = children_of(up.pid)
        assert len(kids) >= 1  # the worker (and the dashboard when dashboards/app.py exists)
        assert len(kids) == 2  # the worker and the dashboard
        # the banner comes once everything answers, the dashboard included (issue 14)
        deadline = time.monotonic() + 60
        while "stops everything" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        banner = log.read_text()
        assert url in banner and "admin.token" in banner
        assert f"serving {ROOT / 'dashboards' / 'app.py'}" in banner
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{dport}/app"):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        code = up.stop(grace=60)
    assert code == 0, log.read_text()
    assert all(gone(k) for k in kids), kids
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{wport}/health", timeout=1)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_default_dashboard_is_the_repos_app() -> None:
    # the editable install maps agency_dashboards to this checkout's dashboards/
    assert DEFAULT_DASHBOARD_APP == ROOT / "dashboards" / "app.py"
    assert dashboard_app(Settings.load(env={})) == DEFAULT_DASHBOARD_APP


def test_agency_dashboard_app_names_another_app(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    mine.write_text("")
    assert dashboard_app(Settings.load(env={"AGENCY_DASHBOARD_APP": str(mine)})) == mine
    with pytest.raises(ConfigError, match=r"AGENCY_DASHBOARD_APP: .*missing\.py is not a file"):
        dashboard_app(Settings.load(env={"AGENCY_DASHBOARD_APP": str(tmp_path / "missing.py")}))


def test_agency_up_refuses_a_missing_dashboard_app_before_starting(tmp_path: Path) -> None:
    missing = tmp_path / "missing.py"
    result = CliRunner().invoke(
        up_app,
        ["--data-dir", str(tmp_path), "--port", str(free_port())],
        env={"AGENCY_DASHBOARD_APP": str(missing)},
    )
    assert result.exit_code == 2
    assert f"AGENCY_DASHBOARD_APP: {missing} is not a file" in result.output
    assert not (tmp_path / "agency.duckdb").exists()  # nothing started
