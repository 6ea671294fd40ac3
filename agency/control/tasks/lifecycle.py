"""State changes of a task and their events, and the replay of a task from its events.

Every change of a task goes through ``change()``: it checks the move against the lifecycle
table, returns the new task and the ONE event that records it. The event carries a snapshot
of the replayed fields, so ``replay_task`` over a task's events rebuilds the stored task.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from agency.errors import NotFound
from agency.models import Event, EventIn, Task, TaskState, check_transition, utcnow

#: Fields every task event snapshots; replay sets them from the last event.
REPLAYED = (
    "state",
    "reason",
    "attempt",
    "worker_id",
    "priority",
    "max_attempts",
    "retry",
    "exit_code",
    "verdict",
    "waiting_for",
    "not_before",
    "dispatched_at",
    "started_at",
    "finished_at",
    "spec",
)
RESOURCE = "task"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, TaskState):
        return value.value
    if isinstance(value, list):
        return list(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


#: replayed fields that rarely change: an event carries them only when they did
_RARE = frozenset({"retry", "max_attempts", "spec"})


def snapshot(task: Task, before: Task | None = None) -> dict[str, Any]:
    """The replayed fields of ``task`` as JSON values (rare ones only if changed since ``before``)."""
    return {
        name: _jsonable(getattr(task, name))
        for name in REPLAYED
        if name not in _RARE or before is None or getattr(task, name) != getattr(before, name)
    }


def created(task: Task, actor: str) -> EventIn:
    """The ``task.created`` event: the whole task, so replay can start from it."""
    return EventIn(
        actor=actor,
        action="task.created",
        resource_type=RESOURCE,
        resource_id=task.id,
        details={
            "from": None,
            "to": task.state.value,
            "task": task.model_dump(mode="json"),
            **_lineage(task),
        },
    )


def _lineage(task: Task) -> dict[str, Any]:
    """A child task's events name its parent, so the audit trail shows the tree."""
    return {"parent_id": task.parent_id} if task.parent_id is not None else {}


def change(
    task: Task,
    to: TaskState,
    *,
    actor: str,
    reason: str | None = None,
    action: str | None = None,
    verdict: str | None = None,
    extra: dict[str, Any] | None = None,
    **fields: Any,
) -> tuple[Task, EventIn]:
    """Move ``task`` to ``to`` (checked) and set ``fields``; returns the new task and its event.

    ``to == task.state`` is allowed only with an explicit ``action`` (reprioritize, waiting
    for locks): a recorded decision that is not a state change. ``reason`` is replaced on
    every change, so a task's reason always explains its current state.
    """
    if to != task.state or action is None:
        check_transition(task.state, to)
    now = utcnow()
    update: dict[str, Any] = {"state": to, "reason": reason, "updated_at": now, **fields}
    if verdict is not None:
        update["verdict"] = verdict
    if to.terminal and "finished_at" not in fields:
        update["finished_at"] = now
    new = task.model_copy(update=update)
    details: dict[str, Any] = {
        "from": task.state.value,
        "to": to.value,
        **snapshot(new, task),
        **_lineage(task),
    }
    if extra:
        details.update(extra)
    event = EventIn(
        actor=actor,
        action=action or f"task.{to.value}",
        resource_type=RESOURCE,
        resource_id=task.id,
        details=details,
        verdict=verdict,
    )
    return new, event


def effective_deadline(task: Task) -> datetime | None:
    """The earlier of the absolute deadline and ``timeout`` seconds after dispatch."""
    ends = [task.deadline] if task.deadline is not None else []
    if task.timeout is not None and task.dispatched_at is not None:
        ends.append(task.dispatched_at + timedelta(seconds=task.timeout))
    return min(ends) if ends else None


def replay_task(events: Iterable[Event | EventIn]) -> Task:
    """The task rebuilt from its events (in ``seq`` order when they carry one).

    Raises ``NotFound`` when there is no ``task.created`` event among them.
    """
    ordered = sorted(
        (e for e in events if e.resource_type == RESOURCE),
        key=lambda e: e.seq if isinstance(e, Event) else 0,
    )
    task: Task | None = None
    for event in ordered:
        if event.action == "task.created":
            task = Task.model_validate(event.details["task"])
            continue
        if task is None or event.resource_id != task.id:
            continue
        update = {k: event.details[k] for k in REPLAYED if k in event.details}
        task = Task.model_validate({**task.model_dump(mode="json"), **update})
    if task is None:
        raise NotFound("no task.created event to replay from")
    return task
