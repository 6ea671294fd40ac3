"""Operator actions on tasks, each one audited with its actor and reason.

``pause``/``resume`` hold a queued task back or release it (``resume`` also approves an
agent task paused at its budget, optionally raising its caps); ``retry`` sends a failed,
canceled, rejected or orphaned task back to the queue for a new attempt; ``abort`` is a
forced cancel (see ``cancel.py``); ``reprioritize`` overrides the priority. Bulk cancel
selects live tasks by filter and can report the count first (dry run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from agency.control.tasks.book import Book, Step
from agency.control.tasks.cancel import Canceller
from agency.control.tasks.lifecycle import change
from agency.errors import BadRequest, InvalidTransition
from agency.models import EventIn, Task, TaskState, utcnow
from agency.models.runs import BUDGET_WAIT


class TaskActions(StrEnum):
    """The operator actions of ``Orchestrator.act``."""

    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    ABORT = "abort"
    REPRIORITIZE = "reprioritize"


@dataclass(frozen=True)
class BulkFilter:
    """Which live tasks a bulk action selects; every given criterion must match.

    ``label`` is ``"key=value"``; ``older_than_s`` counts from the task's creation.
    """

    states: Sequence[TaskState] | None = None
    worker_id: str | None = None
    label: str | None = None
    older_than_s: float | None = None

    def matches(self, task: Task) -> bool:
        if self.states and task.state not in self.states:
            return False
        if self.worker_id is not None and task.worker_id != self.worker_id:
            return False
        if self.label is not None:
            key, sep, value = self.label.partition("=")
            if not sep:
                raise BadRequest(f"label filter {self.label!r} must be key=value")
            if task.labels.get(key) != value:
                return False
        if self.older_than_s is not None:
            return task.created_at <= utcnow() - timedelta(seconds=self.older_than_s)
        return True


@dataclass(frozen=True)
class BulkResult:
    """What a bulk action selected (and, unless ``dry_run``, acted on)."""

    count: int
    task_ids: list[str]
    dry_run: bool


_RETRYABLE = (TaskState.FAILED, TaskState.CANCELED, TaskState.ORPHANED, TaskState.REJECTED)


class Operator:
    """Carries out ``TaskActions`` on one task."""

    def __init__(self, book: Book, canceller: Canceller) -> None:
        self.book = book
        self.canceller = canceller

    async def act(
        self,
        task: Task,
        action: TaskActions,
        actor: str,
        reason: str | None,
        priority: int | None,
        raised: dict[str, Any] | None = None,
        session: str | None = None,
    ) -> Task:
        """Apply ``action`` to ``task`` (its current version); returns the task after it.

        ``raised`` and ``session`` serve the resume of a task paused at its budget.
        """
        extra: dict[str, Any] = {"operator_action": action.value}
        if raised and action is not TaskActions.RESUME:
            raise BadRequest("max_cost_usd and max_turns go with resume only")
        if action is TaskActions.ABORT:
            return await self.canceller.cancel(task, actor, reason, force=True)
        if action is TaskActions.PAUSE:
            if task.state is TaskState.PAUSED:
                return task
            self._need(task, action, (TaskState.PENDING,))
            step = change(
                task,
                TaskState.PAUSED,
                actor=actor,
                reason=reason or f"paused by {actor}",
                extra=extra,
                waiting_for=[],
            )
        elif action is TaskActions.RESUME:
            if task.state is TaskState.PENDING and not raised:
                return task
            self._need(task, action, (TaskState.PAUSED,))
            if BUDGET_WAIT in task.waiting_for:
                step = budget_resume(task, actor, reason, extra, raised or {}, session)
            elif raised:
                raise BadRequest("max_cost_usd and max_turns apply to a task paused at its budget")
            else:
                step = change(task, TaskState.PENDING, actor=actor, reason=reason, extra=extra)
        elif action is TaskActions.RETRY:
            self._need(task, action, _RETRYABLE)
            step = change(
                task,
                TaskState.PENDING,
                actor=actor,
                reason=reason or f"retried by {actor}",
                extra=extra,
                worker_id=None,
                not_before=None,
                exit_code=None,
                finished_at=None,
                verdict=None,
                # an operator retry grants one more attempt beyond the policy
                max_attempts=max(task.max_attempts, task.attempt + 1),
                retry=task.retry.model_copy(
                    update={"max_attempts": max(task.retry.max_attempts, task.attempt + 1)}
                ),
            )
            self.book.kpis.retries.inc()
        else:
            if priority is None:
                raise BadRequest("reprioritize needs a priority")
            if not -1000 <= priority <= 1000:
                raise BadRequest("priority must be between -1000 and 1000")
            step = change(
                task,
                task.state,
                actor=actor,
                action="task.reprioritized",
                reason=reason or task.reason,
                extra={**extra, "old_priority": task.priority},
                priority=priority,
            )
        new, ev = step
        await self.book.commit([Step(task, new, ev)])
        if (
            action is TaskActions.REPRIORITIZE
            and new.state is TaskState.PENDING
            and new.id in self.book.queue
        ):
            self.book.queue.push(
                new, utcnow().timestamp()
            )  # reorder: the new entry replaces the old
        return new

    @staticmethod
    def _need(task: Task, action: TaskActions, states: tuple[TaskState, ...]) -> None:
        if task.state not in states:
            raise InvalidTransition(
                f"cannot {action.value} a task that is {task.state.value}",
                details={"task_id": task.id, "state": task.state.value, "action": action.value},
            )


def budget_resume(
    task: Task,
    actor: str,
    reason: str | None,
    extra: dict[str, Any],
    raised: dict[str, Any],
    session: str | None,
) -> tuple[Task, EventIn]:
    """The operator's approval to go on past a budget: back to the queue with the run's
    session (same conversation, on the worker that holds it), one more attempt, and the caps
    raised if asked. A cap may only go up: the approval is to spend more, not to re-plan."""
    spec = dict(task.spec)
    changed: dict[str, dict[str, Any]] = {}
    for key, value in raised.items():
        old = spec.get(key)
        if old is not None and value <= old:
            raise BadRequest(
                f"{key} must be raised above {old} to go on past the budget",
                details={"task_id": task.id, key: old},
            )
        spec[key] = value
        changed[key] = {"from": old, "to": value}
    if session:
        spec["session_id"] = session
    return change(
        task,
        TaskState.PENDING,
        actor=actor,
        reason=reason or f"{'budget raised' if changed else 'resumed'} past its budget by {actor}",
        extra={**extra, "approved": "budget", "raised": changed, "session_id": session},
        spec=spec,
        waiting_for=[],
        worker_id=None,
        not_before=None,
        max_attempts=max(task.max_attempts, task.attempt + 1),
        retry=task.retry.model_copy(
            update={"max_attempts": max(task.retry.max_attempts, task.attempt + 1)}
        ),
    )
