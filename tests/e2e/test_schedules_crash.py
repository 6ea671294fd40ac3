"""A slot fires once across a ``kill -9`` of the control plane in the middle of its fire.

A real ``agency up`` (no workers, no dashboard) on 127.0.0.1 over a DuckDB file in
``tmp_path`` runs a per-second schedule; the fault drill ``AGENCY_FAULT_SCHEDULE_CRASH``
SIGKILLs it during the first fire, either once the fire is recorded (no task yet) or once its
task is submitted (the fire not yet confirmed). After a restart without the drill the slot has
exactly one task, the one of the first try when it had landed, and the schedule goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.testing import free_port, wait_healthy

TOKEN = "admin-secret-for-schedule-crash-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def agency_up(data: Path, extra: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``agency up`` with a fresh port; SIGTERM (then SIGKILL) on the way out if still alive."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCY_")}
    env.update({"AGENCY_LOG_LEVEL": "WARNING", "AGENCY_ADMIN_TOKEN": TOKEN, **extra})
    argv = [sys.executable, "-m", "agency", "up", "--port", str(port), "--workers", "0"]
    argv += ["--no-dashboard", "--data-dir", str(data)]
    with (data.parent / "up.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 90, proc)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def iso_z(text: str) -> str:
    return datetime.fromisoformat(text).isoformat().replace("+00:00", "Z")


def fires_of(http: httpx.Client, sid: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"/api/v1/schedules/{sid}/fires", params=params).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


@pytest.mark.slow
@pytest.mark.parametrize("drill", ["recorded", "submitted"])
def test_a_slot_fires_once_across_a_kill_9_during_its_fire(tmp_path: Path, drill: str) -> None:
    data = tmp_path / "data"
    with agency_up(data, {"AGENCY_FAULT_SCHEDULE_CRASH": drill}) as (proc, url):
        with httpx.Client(base_url=url, headers=AUTH, timeout=10) as http:
            r = http.post(
                "/api/v1/schedules",
                json={"name": "crash", "cron": "* * * * * *", "task": {"kind": "noop"}},
            )
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
        proc.wait(30)  # the first fire kills it
        assert proc.returncode == -signal.SIGKILL
    restarted = time.time()
    with (
        agency_up(data, {}) as (proc, url),
        httpx.Client(base_url=url, headers=AUTH, timeout=10) as http,
    ):
        # the unconfirmed fire was finished before the API answered
        fires = fires_of(http, sid)
        crashed = min(fires, key=lambda f: f["slot"])
        assert crashed["task_id"], fires
        key = f"schedule:{sid}:{iso_z(crashed['slot'])}"
        deadline = time.monotonic() + 30
        while len(fires) < 3 and time.monotonic() < deadline:  # and it goes on firing
            time.sleep(0.2)
            fires = fires_of(http, sid)
        assert len(fires) >= 3
        tasks = http.get("/api/v1/tasks", params={"label": "schedule=crash", "limit": 500}).json()[
            "items"
        ]
        keys = [t["idempotency_key"] for t in tasks]
        assert keys.count(key) == 1 and len(keys) == len(set(keys))
        [task] = [t for t in tasks if t["idempotency_key"] == key]
        assert task["id"] == crashed["task_id"]
        created = datetime.fromisoformat(task["created_at"]).timestamp()
        # submitted before the kill: the task of the first try; recorded only: made on restart
        assert (created < restarted) is (drill == "submitted")
        events = http.get(
            "/api/v1/audit",
            params={"resource_type": "schedule", "resource_id": sid, "action": "schedule.fired"},
        ).json()["items"]
        first = [e for e in events if e["details"]["key"] == key]
        assert len(first) == 1 and first[0]["details"]["recovered"] is True
        by_slot = [f["slot"] for f in fires]
        assert len(by_slot) == len(set(by_slot))
