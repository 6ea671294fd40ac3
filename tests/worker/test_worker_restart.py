"""A worker killed mid-task and restarted reports what it knows: ``lost``, never success."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agency.testing import WorkerProc, wait_state
from agency.worker.procs import group_members, pid_alive


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_a_restarted_worker_reports_lost_never_success(
    start: Callable[..., WorkerProc], tmp_path: Path, sandbox: str
) -> None:
    data = tmp_path / "data"
    w = start(data_dir=data, worker_id="restarting", sandbox=sandbox)
    with w.client() as c:
        c.post(
            "/task", json={"task_id": "done", "kind": "shell", "spec": {"argv": ["echo", "fine"]}}
        )
        assert wait_state(c, "done")["state"] == "succeeded"
        # exits 0 the moment it is woken: a worker that guessed would call it a success
        body = {
            "task_id": "mid",
            "kind": "shell",
            "spec": {"argv": ["sh", "-c", "sleep 600 & sleep 600; exit 0"]},
        }
        pgid = c.post("/task", json=body).json()["pid"]
        deadline = time.monotonic() + 10
        while len(group_members(pgid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        pids = group_members(pgid)
        assert len(pids) >= 3
    w.kill()  # SIGKILL: no shutdown path runs

    again = start(data_dir=data, worker_id="restarting", sandbox=sandbox)
    with again.client() as c:
        mid = c.get("/task/mid").json()
        assert mid["state"] == "lost" and mid["reason"].startswith("worker-restarted")
        assert mid["exit_code"] is None
        if sandbox == "off":  # a plain process group outlives its worker: the restart kills it
            assert mid["reason"] == "worker-restarted; leftover processes killed"
        assert c.get("/task/done").json()["state"] == "succeeded"
        assert c.get("/task/done/output").json()["data"] == "fine\n"
        # the same attempt is not run again; a new attempt is
        assert c.post("/task", json=body).json()["state"] == "lost"
        assert (
            c.post("/task", json={**body, "attempt": 2, "spec": {"argv": ["true"]}}).status_code
            == 201
        )
        assert wait_state(c, "mid")["state"] == "succeeded"
    # the killed worker's processes are gone: with bwrap they died with it, without it the
    # restarted worker killed the group it found
    assert wait_gone(pids) == []
