"""Cancel, deadlines, capacity and drain against real worker processes, checked by pid."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agency.testing import WorkerProc, start_worker, wait_state
from agency.worker.procs import group_members, pid_alive

GRACE = 1.0


def tid() -> str:
    return uuid.uuid4().hex[:12]


def shell(task_id: str, argv: list[str], **spec: Any) -> dict[str, Any]:
    return {"task_id": task_id, "kind": "shell", "spec": {"argv": argv, **spec}}


def members_when(pgid: int, count: int, timeout: float = 10.0) -> list[int]:
    """The group's live pids once it has at least ``count`` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = group_members(pgid)
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"group {pgid} never reached {count} processes: {group_members(pgid)}")


QUICK = {"AGENCY_CANCEL_GRACE": str(GRACE)}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    """A worker with a 1 s cancel grace and room for 2 tasks, shared by the tests that
    leave it idle (each waits for its tasks to end)."""
    w = start_worker(tmp_path_factory.mktemp("quick"), capacity=2, env=QUICK)
    yield w
    w.stop()


@pytest.fixture
def own(start: Callable[..., WorkerProc]) -> WorkerProc:
    """A worker of the test's own, for tests that stop it."""
    return start(capacity=2, env=QUICK)


def test_cancel_stops_the_process_and_its_children(quick: WorkerProc) -> None:
    t = tid()
    with quick.client() as c:
        pgid = c.post("/task", json=shell(t, ["sh", "-c", "sleep 600 & sleep 600"])).json()["pid"]
        # the sandbox adds its own processes; the shell and both sleeps are there in any case
        pids = members_when(pgid, 3)
        started = time.monotonic()
        ack = c.post(f"/task/{t}/cancel")
        assert ack.status_code == 200 and ack.json()["state"] in ("canceling", "canceled")
        final = wait_state(c, t, timeout=GRACE + 10)
        took = time.monotonic() - started
        assert final["state"] == "canceled" and "process group gone" in final["reason"]
        assert not any(pid_alive(p) for p in pids), [p for p in pids if pid_alive(p)]
        assert took < GRACE + 5
        # idempotent: a second cancel answers the final state
        assert c.post(f"/task/{t}/cancel").json()["state"] == "canceled"


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(quick: WorkerProc) -> None:
    t = tid()
    with quick.client() as c:
        # children inherit the ignored SIGTERM: only SIGKILL after the grace stops them
        pgid = c.post(
            "/task", json=shell(t, ["sh", "-c", "trap '' TERM; sleep 600 & sleep 600"])
        ).json()["pid"]
        pids = members_when(pgid, 3)
        started = time.monotonic()
        c.post(f"/task/{t}/cancel")
        final = wait_state(c, t, timeout=GRACE + 10)
        assert final["state"] == "canceled"
        assert time.monotonic() - started >= GRACE * 0.9
        assert not any(pid_alive(p) for p in pids)


def test_the_spec_timeout_stops_the_task(quick: WorkerProc) -> None:
    t = tid()
    with quick.client() as c:
        pgid = c.post(
            "/task", json=shell(t, ["sh", "-c", "sleep 600 & sleep 600"], timeout=0.5)
        ).json()["pid"]
        pids = members_when(pgid, 3)
        final = wait_state(c, t, timeout=GRACE + 10)
        assert final["state"] == "failed" and "deadline exceeded" in final["reason"]
        assert not any(pid_alive(p) for p in pids)


def test_the_request_deadline_stops_the_task_and_a_past_one_never_starts(quick: WorkerProc) -> None:
    with quick.client() as c:
        t = tid()
        soon = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
        c.post("/task", json={**shell(t, ["sleep", "600"]), "deadline": soon})
        assert "deadline exceeded" in wait_state(c, t, timeout=GRACE + 10)["reason"]
        t = tid()
        past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        resp = c.post("/task", json={**shell(t, ["sleep", "600"]), "deadline": past})
        assert resp.status_code == 201 and resp.json()["state"] == "failed"
        assert resp.json()["pid"] is None and "deadline passed" in resp.json()["reason"]


def test_a_full_worker_answers_409(quick: WorkerProc) -> None:
    with quick.client() as c:
        a, b = tid(), tid()
        assert (
            c.post("/task", json={"task_id": a, "kind": "noop", "spec": {"sleep": 60}}).status_code
            == 201
        )
        assert c.post("/task", json=shell(b, ["sleep", "60"])).status_code == 201
        full = c.post("/task", json=shell(tid(), ["true"]))
        assert full.status_code == 409 and full.json()["error"]["code"] == "worker_full"
        assert full.json()["error"]["details"]["capacity"] == 2
        # a repeat of a running task is still answered, and a no-op without sleep needs no slot
        assert c.post("/task", json=shell(b, ["sleep", "60"])).status_code == 200
        assert (
            c.post("/task", json={"task_id": tid(), "kind": "noop", "spec": {}}).status_code == 201
        )
        assert sorted(c.get("/status").json()["running"]) == sorted([a, b])
        c.post(f"/task/{a}/cancel")
        assert wait_state(c, a)["state"] == "canceled"
        assert c.post("/task", json=shell(tid(), ["true"])).status_code == 201
        c.post(f"/task/{b}/cancel")
        wait_state(c, b)


def test_shutdown_drains_then_exits(own: WorkerProc) -> None:
    with own.client() as c:
        t = tid()
        c.post("/task", json={"task_id": t, "kind": "noop", "spec": {"sleep": 0.5}})
        resp = c.post("/shutdown", json={"cancel": False})
        assert resp.status_code == 202 and resp.json()["draining"] is True
        refused = c.post("/task", json={"task_id": tid(), "kind": "noop", "spec": {}})
        assert refused.status_code == 503 and "draining" in refused.json()["error"]["message"]
        assert c.get(f"/task/{t}").json()["state"] == "running"
    own.proc.wait(15)
    assert own.proc.returncode == 0


def test_shutdown_with_cancel_stops_running_work(own: WorkerProc) -> None:
    with own.client() as c:
        pgid = c.post("/task", json=shell(tid(), ["sh", "-c", "sleep 600 & sleep 600"])).json()[
            "pid"
        ]
        pids = members_when(pgid, 3)
        assert c.post("/shutdown", json={"cancel": True}).status_code == 202
    own.proc.wait(GRACE + 15)
    assert not any(pid_alive(p) for p in pids)


def test_sigterm_to_the_worker_cancels_its_tasks(own: WorkerProc) -> None:
    with own.client() as c:
        t = tid()
        pgid = c.post("/task", json=shell(t, ["sleep", "600"])).json()["pid"]
        pids = members_when(pgid, 1)
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly
    assert own.stop() in (0, -15)
    assert not any(pid_alive(p) for p in pids)
    record = json.loads(
        (own.data_dir / "workers" / own.worker_id / "tasks" / f"{t}-1.json").read_text()
    )
    assert record["status"]["state"] == "canceled"


def test_required_sandbox_fails_closed_without_bwrap(start: Callable[..., WorkerProc]) -> None:
    # an empty PATH hides bwrap from the worker: the probe fails, tasks must be refused
    w = start(sandbox="required", env={"PATH": "/nonexistent"})
    with w.client() as c:
        assert c.get("/status").json()["sandbox"] == "unavailable"
        resp = c.post("/task", json=shell(tid(), ["/bin/true"]))
        assert resp.status_code == 503
        assert "AGENCY_SANDBOX=required" in resp.json()["error"]["message"]
        assert "bwrap" in resp.json()["error"]["message"]
        # a no-op starts no process, so it still runs
        assert c.post("/task", json={"task_id": tid(), "kind": "noop"}).status_code == 201


def test_sandbox_off_runs_without_bwrap(start: Callable[..., WorkerProc]) -> None:
    w = start(sandbox="off")
    with w.client() as c:
        assert c.get("/status").json()["sandbox"] == "none"
        t = tid()
        c.post("/task", json=shell(t, ["true"]))
        assert wait_state(c, t)["state"] == "succeeded"


def test_invalid_flags_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="WORKER_CAPACITY"):
        start_worker(tmp_path, capacity=0, timeout=15)
