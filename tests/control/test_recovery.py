"""Crash recovery: ``kill -9`` of the control plane under load, then a restart on the same file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from agency.control.tasks import Orchestrator
from agency.fleet import Registry
from agency.models import TERMINAL_STATES, Task, TaskState, TaskSubmit
from agency.storage import Repositories, Store
from agency.testing import (
    Heartbeats,
    WorkerProc,
    assert_replays,
    quick_settings,
    register,
    task_events,
)
from tests.control.conftest import CAPACITY

ROOT = Path(__file__).resolve().parents[2]


def wait_lines(path: Path, n: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Wait until ``path`` has at least ``n`` lines (bounded; fails if ``proc`` died)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        assert proc.poll() is None, "the control plane died on its own"
        count = len(path.read_text().split()) if path.exists() else 0
        if count >= n:
            return count
        time.sleep(0.05)
    raise TimeoutError(f"{path} never reached {n} lines")


async def test_kill_9_of_the_control_plane_under_load_then_restart(
    tmp_path: Path, fleet: list[WorkerProc]
) -> None:
    accepted = tmp_path / "accepted.txt"
    argv = [
        sys.executable,
        "-m",
        "agency.testing.headless",
        "--data",
        str(tmp_path),
        "--accepted",
        str(accepted),
        "--tasks",
        "400",
        "--batch",
        "20",
        "--sleep",
        "0.05",
        "--capacity",
        str(CAPACITY),
    ]
    for w in fleet:
        argv += ["--worker", f"{w.worker_id}={w.url}"]
    with (tmp_path / "cp.log").open("wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_lines(accepted, 200, proc)
    finally:
        proc.kill()  # SIGKILL mid-load: submits, dispatches and results in the air
        proc.wait(10)
    ids = accepted.read_text().split()
    assert len(ids) >= 200

    settings = quick_settings(tmp_path)
    store = await Store.open(settings.database_path)
    orch = Orchestrator(settings, Repositories(store), Registry(settings))
    try:
        t0 = time.perf_counter()
        await orch.start()
        assert time.perf_counter() - t0 < 5
        await register(orch, fleet, CAPACITY)
        async with Heartbeats(orch, fleet, settings.heartbeat_interval):
            # more work after the restart mixes with the recovered tasks
            extra = await orch.submit_many([TaskSubmit(kind="noop") for _ in range(20)], "after")
            await orch.run_burst(timeout=90)
        rows = await store.fetch("SELECT * FROM tasks")
        tasks = {r["id"]: Task.model_validate(r) for r in rows}
        missing = [i for i in ids if i not in tasks]
        assert not missing, f"{len(missing)} accepted tasks lost"
        states = {tasks[i].state for i in ids + [t.id for t in extra]}
        assert states <= TERMINAL_STATES and states == {TaskState.SUCCEEDED}, states
        assert all(t.state in TERMINAL_STATES for t in tasks.values())
        report = await store.verify_chain()
        assert report.ok, report
        assert orch.recovery["live"] > 0  # it really had something to recover
        dispatched = [e for e in await task_events(store) if e.action == "task.dispatched"]
        assert len(dispatched) >= len(ids)
        await assert_replays(store)
    finally:
        await orch.stop()
        await store.close()
    # the operator's check, on the file, once the control plane has let go of it
    verify = subprocess.run(
        [sys.executable, "-m", "agency", "audit", "verify", "--db", str(settings.database_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
