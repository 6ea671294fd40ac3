"""Cancel as a visible lifecycle against real workers, deadlines, and operator actions."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from agency.control.tasks import BulkFilter, Orchestrator
from agency.errors import InvalidTransition
from agency.fleet import Registry
from agency.models import TaskState, TaskSubmit
from agency.settings import Settings
from agency.storage import Repositories, Store
from agency.testing import (
    Heartbeats,
    pid_alive,
    register,
    start_worker,
    state_of,
    task_events,
    wait_until,
    worker_task,
)

SLEEP = TaskSubmit(kind="shell", spec={"argv": ["sleep", "600"]})


async def test_cancel_of_a_running_sleep_ends_the_process_and_says_who(
    orch: Orchestrator, fleet: list
) -> None:
    task = await orch.submit(SLEEP, "alice")
    await wait_until(orch, lambda: state_of(orch, task.id) == "running")
    running = await orch.get(task.id)
    worker = next(w for w in fleet if w.worker_id == running.worker_id)
    pid = worker_task(worker, task.id)["pid"]
    assert pid and pid_alive(pid)
    asked = await orch.cancel(task.id, "alice", "wrong branch")
    assert asked.state is TaskState.CANCEL_REQUESTED
    again = await orch.cancel(task.id, "bob")  # idempotent: no second request
    assert again.state in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING)
    await orch.run_burst(timeout=20)
    done = await orch.get(task.id)
    assert done.state is TaskState.CANCELED
    assert "alice" in (done.reason or "") and "wrong branch" in (done.reason or "")
    assert not pid_alive(pid)
    events = await task_events(orch.repos.store, task.id)
    actions = [e.action for e in events]
    assert actions[:3] == ["task.created", "task.dispatched", "task.running"]
    assert actions[3:] in (
        ["task.cancel_requested", "task.canceling", "task.canceled"],
        ["task.cancel_requested", "task.canceled"],
    )
    requested = next(e for e in events if e.action == "task.cancel_requested")
    assert requested.actor == "alice" and requested.details["reason"].endswith("wrong branch")
    assert (await orch.cancel(task.id, "carol")).state is TaskState.CANCELED  # still idempotent


async def test_cancel_of_a_pending_task_is_immediate(orch: Orchestrator) -> None:
    await orch.pause_queue("op", "hold")
    task = await orch.submit(SLEEP, "alice")
    done = await orch.cancel(task.id, "bob", "not needed")
    assert done.state is TaskState.CANCELED and done.attempt == 0
    await orch.resume_queue("op", "go")


async def test_bulk_cancel_dry_run_counts_then_acts(orch: Orchestrator) -> None:
    await orch.pause_queue("op", "hold")
    tagged = await orch.submit_many(
        [TaskSubmit(kind="noop", labels={"team": "x"}) for _ in range(3)], "a"
    )
    other = await orch.submit(TaskSubmit(kind="noop"), "a")  # labels are worker requirements
    flt = BulkFilter(states=[TaskState.PENDING], label="team=x")
    dry = await orch.bulk_cancel(flt, "op", dry_run=True)
    assert dry.count == 3 and dry.dry_run and sorted(dry.task_ids) == sorted(t.id for t in tagged)
    assert {(await orch.get(t.id)).state for t in tagged} == {TaskState.PENDING}
    done = await orch.bulk_cancel(flt, "op", dry_run=False, reason="cleanup")
    assert done.count == 3 and not done.dry_run
    assert {(await orch.get(t.id)).state for t in tagged} == {TaskState.CANCELED}
    await orch.resume_queue("op", "go")
    await orch.run_burst(timeout=20)
    assert (await orch.get(other.id)).state is TaskState.SUCCEEDED


async def test_deadline_stops_the_task_and_fails_it(orch: Orchestrator, fleet: list) -> None:
    task = await orch.submit(
        TaskSubmit(kind="shell", spec={"argv": ["sleep", "600"]}, timeout=1.0), "a"
    )
    await wait_until(orch, lambda: state_of(orch, task.id) == "running")
    running = await orch.get(task.id)
    worker = next(w for w in fleet if w.worker_id == running.worker_id)
    pid = worker_task(worker, task.id)["pid"]
    await orch.run_burst(timeout=20)
    done = await orch.get(task.id)
    assert done.state is TaskState.FAILED and done.reason == "deadline" and done.attempt == 1
    assert not pid_alive(pid)


async def test_operator_actions_are_audited(orch: Orchestrator) -> None:
    await orch.pause_queue("op", "hold")
    task = await orch.submit(
        TaskSubmit(kind="noop", spec={"exit_code": 3}, retry={"max_attempts": 1}), "a"
    )
    paused = await orch.act(task.id, "pause", "op", "investigate")
    assert paused.state is TaskState.PAUSED
    with pytest.raises(InvalidTransition):
        await orch.act(task.id, "retry", "op")
    bumped = await orch.act(task.id, "reprioritize", "op", "urgent", priority=50)
    assert bumped.priority == 50 and bumped.state is TaskState.PAUSED
    assert (await orch.act(task.id, "resume", "op", "go")).state is TaskState.PENDING
    await orch.resume_queue("op", "go")
    await orch.run_burst(timeout=20)
    failed = await orch.get(task.id)
    assert failed.state is TaskState.FAILED and failed.exit_code == 3 and failed.attempt == 1
    retried = await orch.act(task.id, "retry", "op", "flaky")
    assert retried.state is TaskState.PENDING
    await orch.run_burst(timeout=20)
    again = await orch.get(task.id)
    assert again.state is TaskState.FAILED and again.attempt == 2
    events = await task_events(orch.repos.store, task.id)
    by_op = [(e.action, e.details.get("operator_action")) for e in events if e.actor == "op"]
    assert by_op == [
        ("task.paused", "pause"),
        ("task.reprioritized", "reprioritize"),
        ("task.pending", "resume"),
        ("task.pending", "retry"),
    ]
    queue_events = await orch.repos.store.fetch(
        "SELECT action, actor FROM events WHERE resource_type = 'queue'"
    )
    assert {"queue.paused", "queue.resumed"} <= {r["action"] for r in queue_events}


async def test_failed_task_is_retried_by_policy_with_backoff(orch: Orchestrator) -> None:
    task = await orch.submit(
        TaskSubmit(kind="noop", spec={"exit_code": 1}, retry={"max_attempts": 3, "backoff": 0.05}),
        "a",
    )
    await orch.run_burst(timeout=20)
    done = await orch.get(task.id)
    assert (
        done.state is TaskState.FAILED
        and done.attempt == 3
        and "no attempts left" in (done.reason or "")
    )
    actions = [e.action for e in await task_events(orch.repos.store, task.id)]
    assert actions.count("task.dispatched") == 3 and actions.count("task.pending") == 2


async def test_cancel_when_the_worker_is_unreachable(
    tmp_path: Path, qsettings: Settings, qstore: Store
) -> None:
    worker = start_worker(tmp_path / "lonely", capacity=1, worker_id="lonely", sandbox="off")
    orch = Orchestrator(qsettings, Repositories(qstore), Registry(qsettings))
    await orch.start()
    pid = None
    try:
        await register(orch, [worker], 1)
        async with Heartbeats(orch, [worker], qsettings.heartbeat_interval):
            task = await orch.submit(SLEEP, "alice")
            await wait_until(orch, lambda: state_of(orch, task.id) == "running")
            pid = worker_task(worker, task.id)["pid"]
            worker.kill()  # SIGKILL: the worker is gone (its sleep lives on, we end it below)
            done = await orch.cancel(task.id, "alice", "worker died")
            await wait_until(orch, lambda: state_of(orch, task.id) == "canceled", timeout=15)
            done = await orch.get(task.id)
            assert done.state is TaskState.CANCELED and done.reason == "worker-unreachable"
    finally:
        await orch.stop()
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        worker.kill()
