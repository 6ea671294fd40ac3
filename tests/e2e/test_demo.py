"""``agency up --demo`` end to end: a real subprocess on free ports with a temporary data dir
seeds the demo; every dashboard page's data function has something to show; after a stop,
``agency demo remove`` deletes the demo rows, keeps the events, and the audit chain verifies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agency.client import AgencyClient
from agency.storage import Repositories
from agency.testing import free_port, wait_healthy
from agency_dashboards.data import (
    audit,
    chat,
    drilldown,
    health,
    overview,
    queries,
    tasks,
    workers,
)


def _up(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    env.update({"AGENCY_LOG_LEVEL": "WARNING", "AGENCY_CANCEL_GRACE": "2"})
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agency",
            "up",
            "--demo",
            "--no-dashboard",
            "--port",
            str(port),
            "--workers",
            "1",
            "--worker-base-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stdout=(tmp_path / "up.log").open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def _agency(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    return subprocess.run(
        [sys.executable, "-m", "agency", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _every_page_has_data(client: AgencyClient) -> None:
    assert len(overview.history(client)) >= 55  # the backfilled hour, one sample a minute
    assert not overview.open_alerts(client).empty
    page = tasks.fetch_page(client, tasks.TaskFilter(label="demo=true"), None)
    states = set(page.rows["state"])
    assert {"succeeded", "failed", "canceled"} <= states, states
    failed = page.rows[page.rows["state"] == "failed"].iloc[0]
    detail = drilldown.load(client, str(failed["id"]))
    assert len(detail.attempts) == 3 and not detail.timeline.empty  # it failed and retried
    sessions = chat.sessions(client)
    title, sid = next(iter(sessions.items()))  # title -> id
    assert title.startswith("demo: "), sessions
    assert len(chat.history(client, sid)) >= 4  # two questions, two answers
    assert not workers.workers(client).empty
    assert not audit.audit(client, audit.AuditFilter()).rows.empty
    assert not health.health(client)[1].empty
    saved = queries.saved(client)
    assert saved, saved
    qid = next(iter(saved.values()))  # label -> id
    assert not queries.runs(client, qid).empty and not queries.revisions(client, qid).empty


async def _leftovers(db: Path, mine: str) -> tuple[dict[str, int], list[str]]:
    repos = await Repositories.open(db)
    try:
        rows = await repos.demo.find([])
        kpis = await repos.kpis.find(limit=10_000)
        events = await repos.events.find(action="demo.", limit=10_000)
        counts = rows.counts() | {"kpi_samples": len(kpis)}
        assert await repos.tasks.get(mine) is not None  # a task of the user's stays
        return counts, [e.action for e in events]
    finally:
        await repos.close()


@pytest.mark.slow
def test_agency_up_demo_fills_every_page_and_removes_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = _up(tmp_path, port)
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "up.log"
    try:
        wait_healthy(url, 60, proc)
        deadline = time.monotonic() + 120
        while "stops everything" not in log.read_text():  # the banner comes after the seed
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "demo data" in log.read_text()
        token = (tmp_path / "data" / "admin.token").read_text().strip()
        with AgencyClient(url, token) as client:
            _every_page_has_data(client)
            mine = client.submit("noop", {}).id
            client.wait(mine, 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0, log.read_text()

    db = tmp_path / "data" / "agency.duckdb"
    removed = _agency("demo", "remove", "--db", str(db))
    assert removed.returncode == 0, removed.stderr
    assert "7 tasks" in removed.stdout and "1 queries" in removed.stdout, removed.stdout
    counts, actions = asyncio.run(_leftovers(db, mine))
    # the backfilled hour is gone; samples the running control plane took stay
    assert counts["tasks"] == counts["alerts"] == counts["queries"] == 0, counts
    assert counts["chat_sessions"] == 0 and counts["kpi_samples"] < 60, counts
    assert actions == ["demo.seeded", "demo.removed"]
    verified = _agency("audit", "verify", "--db", str(db))
    assert verified.returncode == 0 and verified.stdout.startswith("ok:"), verified.stdout
    again = _agency("demo", "remove", "--db", str(db))  # nothing left: still fine
    assert again.returncode == 0 and "0 tasks" in again.stdout, again.stdout
