"""Submit and dispatch against three real workers: every task runs once and succeeds."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from agency.control.tasks import Orchestrator
from agency.control.tasks.waiting import own, unplaced_reasons
from agency.errors import InvalidSpec
from agency.models import Task, TaskState, TaskSubmit, WorkerHealth, WorkerInfo
from agency.testing import task_events, wait_until


async def test_noop_task_succeeds_with_its_events_in_order(orch: Orchestrator) -> None:
    task = await orch.submit(TaskSubmit(kind="noop"), "alice")
    assert task.state is TaskState.PENDING and task.created_by == "alice"
    await orch.run_burst(timeout=20)
    done = await orch.get(task.id)
    assert done.state is TaskState.SUCCEEDED and done.attempt == 1 and done.exit_code == 0
    actions = [e.action for e in await task_events(orch.repos.store, task.id)]
    assert actions == ["task.created", "task.dispatched", "task.succeeded"]
    assert (await orch.repos.store.verify_chain()).ok


async def test_invalid_spec_is_refused_before_anything_is_stored() -> None:
    with pytest.raises(InvalidSpec):
        TaskSubmit(kind="shell", spec={"argv": []})
    with pytest.raises(InvalidSpec):
        TaskSubmit(kind="nope")


async def test_idempotency_key_returns_the_same_task(orch: Orchestrator) -> None:
    first = await orch.submit(TaskSubmit(kind="noop", idempotency_key="k-1"), "alice")
    again = await orch.submit(TaskSubmit(kind="noop", idempotency_key="k-1"), "bob")
    assert again.id == first.id
    batch = await orch.submit_many(
        [
            TaskSubmit(kind="noop", idempotency_key="k-2"),
            TaskSubmit(kind="noop", idempotency_key="k-2"),
        ],
        "c",
    )
    assert batch[0].id == batch[1].id
    await orch.run_burst(timeout=20)
    # still the same task once it has finished (found in the database, not in memory)
    assert (await orch.submit(TaskSubmit(kind="noop", idempotency_key="k-1"), "d")).id == first.id
    rows = await orch.repos.store.fetch("SELECT count(*) AS n FROM tasks")
    assert rows[0]["n"] == 2


async def test_200_shell_tasks_on_3_workers_each_run_exactly_once(
    orch: Orchestrator, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    reqs = [
        TaskSubmit(kind="shell", spec={"argv": ["sh", "-c", f'echo {i} >> "{log}"']})
        for i in range(200)
    ]
    tasks = await orch.submit_many(reqs, "bulk")
    await orch.run_burst(timeout=120)
    lines = log.read_text().split()
    assert sorted(lines, key=int) == [str(i) for i in range(200)]  # each exactly once
    finals = [await orch.get(t.id) for t in tasks]
    assert {t.state for t in finals} == {TaskState.SUCCEEDED}
    assert {t.attempt for t in finals} == {1}
    per_worker = collections.Counter(t.worker_id for t in finals)
    assert set(per_worker) == {"w0", "w1", "w2"}, per_worker  # spread over the fleet
    dispatched = collections.Counter(
        e.resource_id for e in await task_events(orch.repos.store) if e.action == "task.dispatched"
    )
    assert set(dispatched.values()) == {1} and len(dispatched) == 200


async def test_priority_then_age_orders_the_queue(orch: Orchestrator) -> None:
    await orch.pause_queue("op", "ordering test")
    low = await orch.submit(TaskSubmit(kind="noop", priority=-5), "a")
    old = await orch.submit(TaskSubmit(kind="noop"), "a")
    new = await orch.submit(TaskSubmit(kind="noop"), "a")
    high = await orch.submit(TaskSubmit(kind="noop", priority=9), "a")
    order = []
    queue = orch.book.queue
    while (tid := queue.pop(1e12)) is not None:
        order.append(tid)
    assert order == [high.id, old.id, new.id, low.id]
    for t in (low, old, new, high):
        queue.push(await orch.get(t.id), 0)
    await orch.resume_queue("op", "done")
    await orch.run_burst(timeout=20)
    assert {(await orch.get(t.id)).state for t in (low, old, new, high)} == {TaskState.SUCCEEDED}


async def test_a_task_whose_labels_no_worker_carries_says_so(orch: Orchestrator) -> None:
    """Why a task waits: ``waiting_for`` names the labels nobody carries; a fitting task
    of the same batch runs and never gets such a reason."""
    lonely = await orch.submit(TaskSubmit(kind="noop", labels={"gpu": "h100"}), "alice")
    fits = await orch.submit(TaskSubmit(kind="noop"), "alice")
    await wait_until(orch, lambda: orch.book.get(lonely.id).waiting_for != [])  # type: ignore[union-attr]
    waiting = await orch.get(lonely.id)
    assert waiting.state is TaskState.PENDING
    assert waiting.waiting_for == ["labels:gpu=h100"]
    assert waiting.reason == "waiting for labels:gpu=h100"
    await orch.run_burst(timeout=20)
    done = await orch.get(fits.id)
    assert done.state is TaskState.SUCCEEDED and done.waiting_for == []
    actions = [e.action for e in await task_events(orch.repos.store, lonely.id)]
    assert actions == ["task.created", "task.waiting"]  # said once, not on every pass


def test_unplaced_reasons_tell_missing_labels_from_busy_or_refusing_workers() -> None:
    task = Task(id="t", kind="shell", spec={"argv": ["true"]}, labels={"team": "ml"})
    ml = WorkerInfo(id="w1", url="http://x", kinds=["shell"], capacity=1, labels={"team": "ml"})
    other = ml.model_copy(update={"id": "w2", "labels": {"team": "web"}})
    assert unplaced_reasons(task, [other]) == ["labels:team=ml"]
    assert unplaced_reasons(task, [other, ml]) == []  # it fits: busy is no reason
    assert unplaced_reasons(task, [ml.model_copy(update={"breaker": "open"})]) == ["breaker:w1"]
    down = ml.model_copy(update={"health": WorkerHealth.UNHEALTHY})
    assert unplaced_reasons(task, [down]) == ["worker_down:w1"]
    bare = task.model_copy(update={"labels": {}, "kind": "agent"})
    assert unplaced_reasons(bare, [ml]) == ["kind:agent"]
    assert unplaced_reasons(task, []) == []  # no fleet yet: not a reason to write down
    assert own(["labels:team=ml"]) and not own(["budget:b1"]) and not own([])
