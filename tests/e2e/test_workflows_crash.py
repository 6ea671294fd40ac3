"""A workflow run survives a ``kill -9`` of the control plane in the middle, and no step runs
twice: a real ``agency up`` over a DuckDB file, a real worker (its own process, so it keeps
running the step's task while the control plane is dead), steps that append one line to a
log file each time they run. After the restart the run resumes from its checkpoints and
finishes; every step's line is in the log exactly once, and the replay is consistent."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.testing import free_port, start_control_plane, start_worker, wait_for

TOKEN = "admin-secret-for-workflow-crash-tests"
WORKER_TOKEN = "worker-secret-for-workflow-crash-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def logged(log: Path, name: str, pause: float) -> dict[str, Any]:
    """A step that appends ``name`` to ``log``, then takes ``pause`` seconds."""
    return {
        "kind": "shell",
        "retry": {"max_attempts": 1},
        "spec": {"argv": ["sh", "-c", f"echo {name} >> {log}; sleep {pause}; echo {name}"]},
    }


def lines(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


@pytest.mark.slow
def test_a_run_resumes_after_kill_9_and_runs_no_step_twice(tmp_path: Path) -> None:
    log = tmp_path / "steps.log"
    port = free_port()
    settings = {"AGENCY_ADMIN_TOKEN": TOKEN, "AGENCY_WORKER_TOKEN": WORKER_TOKEN}
    up = start_control_plane(tmp_path / "data", settings=settings, port=port)
    worker = start_worker(
        tmp_path / "w",
        token=WORKER_TOKEN,
        control_plane=up.url,
        capacity=4,
        sandbox="off",
    )
    try:
        steps = [
            {"id": "a", "task": logged(log, "a", 0.2)},
            {"id": "b", "needs": ["a"], "task": logged(log, "b", 3)},
            {"id": "m", "needs": ["b"], "map": [1, 2, 3], "task": logged(log, "m{{ item }}", 0.5)},
            {"id": "c", "needs": ["m"], "task": logged(log, "c-{{ steps.b.output }}", 0.2)},
        ]
        with httpx.Client(base_url=up.url, headers=AUTH, timeout=10) as http:
            wait_for(lambda: http.get("/api/v1/workers").json()["items"], 30, "the worker")
            r = http.post("/api/v1/workflows/runs", json={"name": "crash", "steps": steps})
            assert r.status_code == 201, r.text
            run_id = r.json()["id"]
            # b is running on the worker: the control plane dies in the middle of the run
            wait_for(lambda: "b" in lines(log), 30, "step b to start")
        up.proc.send_signal(signal.SIGKILL)
        up.proc.wait(10)
        assert up.proc.returncode == -signal.SIGKILL
        time.sleep(0.5)
        up = start_control_plane(tmp_path / "data", settings=settings, port=port)
        with httpx.Client(base_url=up.url, headers=AUTH, timeout=10) as http:

            def final() -> dict[str, Any] | None:
                run: dict[str, Any] = http.get(f"/api/v1/workflows/runs/{run_id}").json()
                return run if run["state"] in ("succeeded", "failed", "canceled") else None

            run = wait_for(final, 90, "the resumed run to finish")
            states = {s["id"]: (s["state"], s["reason"]) for s in run["steps"]}
            assert run["state"] == "succeeded", states
            assert sorted(lines(log)) == ["a", "b", "c-b", "m1", "m2", "m3"], lines(log)
            task_ids = [t for s in run["steps"] for t in s["task_ids"]]
            assert len(task_ids) == 6 == len(set(task_ids))
            replay = http.get(f"/api/v1/workflows/runs/{run_id}/replay").json()
            assert replay["consistent"] is True, replay["differences"]
            assert http.get("/api/v1/audit/verify").json()["ok"] is True
    finally:
        worker.stop()
        up.stop()
