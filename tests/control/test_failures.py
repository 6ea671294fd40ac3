"""Worker death, resource locks and quality gates against real workers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from agency.control.tasks import Orchestrator
from agency.control.waivers import WaiverService
from agency.fleet import Registry
from agency.models import Event, TaskState, TaskSubmit
from agency.settings import Settings
from agency.storage import Repositories, Store
from agency.testing import (
    Heartbeats,
    WorkerProc,
    register,
    start_worker,
    task_events,
    wait_until,
)


def kill_machine(worker: WorkerProc) -> None:
    """SIGKILL the worker and every task process it runs: the machine is gone.

    The worker is frozen first, so it cannot start another task between the moment its
    processes are listed and the moment they die (a task started in that gap would live on
    and finish a second time beside its retry)."""
    machine = psutil.Process(worker.pid)
    machine.suspend()
    for proc in machine.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    worker.kill()


@pytest.fixture
async def own_fleet(
    tmp_path: Path, qsettings: Settings, qstore: Store
) -> AsyncIterator[tuple[Orchestrator, list[WorkerProc]]]:
    workers = [
        start_worker(tmp_path / f"k{i}", capacity=4, worker_id=f"k{i}", sandbox="off")
        for i in range(3)
    ]
    orch = Orchestrator(qsettings, Repositories(qstore), Registry(qsettings))
    await orch.start()
    await register(orch, workers, 4)
    try:
        async with Heartbeats(orch, workers, qsettings.heartbeat_interval):
            yield orch, workers
    finally:
        await orch.stop()
        for w in workers:
            w.stop()


def never_twice(events: list[Event]) -> None:
    """Per task, a new attempt is dispatched only after the previous one ended."""
    live: dict[str, int] = {}
    for ev in events:
        to = ev.details.get("to")
        if to == "dispatched":
            assert ev.resource_id not in live, f"{ev.resource_id} dispatched twice at once"
            live[ev.resource_id] = ev.details["attempt"]
        elif to in ("pending", "orphaned", "succeeded", "failed", "canceled", "rejected"):
            live.pop(ev.resource_id, None)


async def test_kill_9_of_a_worker_orphans_and_retries_elsewhere(
    own_fleet: tuple[Orchestrator, list[WorkerProc]], tmp_path: Path
) -> None:
    orch, workers = own_fleet
    log = tmp_path / "ends.log"
    reqs = [
        TaskSubmit(
            kind="shell",
            spec={"argv": ["sh", "-c", f'sleep 0.6; echo {i} >> "{log}"']},
            retry={"max_attempts": 3, "backoff": 0.0},
        )
        for i in range(24)
    ]
    tasks = await orch.submit_many(reqs, "load")
    victim = workers[0]
    await wait_until(
        orch,
        lambda: (
            sum(
                1
                for t in orch.book.tasks.values()
                if t.worker_id == victim.worker_id and t.state is TaskState.RUNNING
            )
            >= 2
        ),
    )
    kill_machine(victim)
    await orch.run_burst(timeout=60)
    finals = [await orch.get(t.id) for t in tasks]
    assert {t.state for t in finals} == {TaskState.SUCCEEDED}, [(t.state, t.reason) for t in finals]
    events = await task_events(orch.repos.store)
    orphaned = {e.resource_id for e in events if e.action == "task.orphaned"}
    assert orphaned, "the killed worker's tasks were orphaned"
    for t in finals:
        if t.id in orphaned:
            assert t.attempt >= 2 and t.worker_id != victim.worker_id
    never_twice(events)
    assert sorted(log.read_text().split(), key=int) == [
        str(i) for i in range(24)
    ]  # none lost or doubled
    alerts = await orch.repos.store.fetch("SELECT kind, resource_id FROM alerts")
    assert {"kind": "worker-silent", "resource_id": victim.worker_id} in alerts


async def test_lock_exclusion_with_50_tasks_on_3_workers(
    orch: Orchestrator, tmp_path: Path
) -> None:
    marks = tmp_path / "locks"
    marks.mkdir()
    overlap = tmp_path / "overlap.log"
    reqs = []
    for i in range(50):
        locks = ["repo:a"] if i % 3 == 0 else ["repo:b"] if i % 3 == 1 else ["repo:a", "repo:b"]
        # mkdir is atomic: it fails if another holder of the same lock is inside
        body = "; ".join(f'mkdir "{marks}/{n}" || echo {i} >> "{overlap}"' for n in locks)
        body += "; sleep 0.02; " + "; ".join(f'rmdir "{marks}/{n}"' for n in locks)
        reqs.append(TaskSubmit(kind="shell", spec={"argv": ["sh", "-c", body]}, locks=locks))
    tasks = await orch.submit_many(reqs, "locks")
    await orch.run_burst(timeout=120)
    assert not overlap.exists(), overlap.read_text()
    assert {(await orch.get(t.id)).state for t in tasks} == {TaskState.SUCCEEDED}
    events = await task_events(orch.repos.store)
    waited = [e for e in events if e.action == "task.waiting"]
    assert waited and all(e.details["waiting_for"] for e in waited)
    assert orch.book.locks.held() == {}
    final = await orch.get(tasks[0].id)
    assert final.waiting_for == []


async def test_gates_reject_placeholders_and_a_waiver_approves(
    orch: Orchestrator, tmp_path: Path
) -> None:
    code = "def f():\\n    raise NotImplementedError\\n"
    # the task writes into its own workspace; the worker reports the file, the gate reads it
    task = await orch.submit(
        TaskSubmit(
            kind="shell",
            spec={"argv": ["sh", "-c", f'printf "{code}" > mod.py']},
            gates=["placeholders"],
        ),
        "dev",
    )
    clean = await orch.submit(
        TaskSubmit(
            kind="shell",
            spec={"argv": ["sh", "-c", "echo 'x = 1' > ok.py"]},
            gates=["placeholders"],
        ),
        "dev",
    )
    await orch.run_burst(timeout=30)
    done = await orch.get(task.id)
    assert (await orch.get(clean.id)).verdict == "approved"
    assert done.state is TaskState.REJECTED and done.verdict == "changes_requested"
    waivers = WaiverService(orch)
    waiver = await waivers.request(task.id, "dev", "generated stub, tracked in ticket 12")
    decided = await waivers.decide(waiver.id, "lead", True, "accepted for now")
    assert decided.state.value == "approved"
    after = await orch.get(task.id)
    assert after.state is TaskState.SUCCEEDED and after.verdict == "waived"
    verdicts = [
        (e.action, e.verdict) for e in await task_events(orch.repos.store, task.id) if e.verdict
    ]
    assert verdicts == [("task.rejected", "changes_requested"), ("task.succeeded", "waived")]
