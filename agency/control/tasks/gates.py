"""Quality gates on finished tasks, and the waivers that override a rejection.

A task with gates that succeeds and lists changed files is checked by
``agency.governance.evaluate_gates`` on those files (paths on the worker's machine: local
workers share the disk). ``changes_requested`` makes the task ``rejected``; an approved
waiver turns it ``succeeded`` with the verdict ``waived``, in one audited write. Every
request, decision and refused decision is an event with its actor.
"""

from __future__ import annotations

import asyncio

from agency.control.tasks.book import Book, Step
from agency.control.tasks.lifecycle import change
from agency.errors import Conflict, Forbidden, NotFound
from agency.governance import Verdict, decide_waiver, evaluate_gates, request_waiver
from agency.models import EventIn, Task, TaskState, Waiver, WaiverState
from agency.storage import Upsert


class Gates:
    """Evaluates a task's gates and carries waivers through their decision."""

    def __init__(self, book: Book) -> None:
        self.book = book

    async def evaluate(self, task: Task, changed_files: list[str]) -> Verdict | None:
        """The verdict on ``changed_files``, or ``None`` when the task has no gates or files."""
        if not task.gates or not changed_files:
            return None
        # the scan reads files: off the event loop
        return await asyncio.to_thread(evaluate_gates, list(task.gates), list(changed_files))

    async def request(self, task: Task, actor: str, reason: str) -> Waiver:
        """Ask for a waiver of ``task``'s rejection (the governance rules decide if allowed)."""
        rows = await self.book.store.fetch("SELECT * FROM waivers WHERE task_id = ?", [task.id])
        waiver = request_waiver(task, actor, reason, [Waiver.model_validate(r) for r in rows])
        ev = EventIn(
            actor=actor,
            action="waiver.requested",
            resource_type="waiver",
            resource_id=waiver.id,
            details={"task_id": task.id, "reason": reason},
        )
        await self.book.store.write(Upsert("waivers", [waiver.model_dump(mode="python")]), ev)
        return waiver

    async def load(self, waiver_id: str) -> Waiver:
        rows = await self.book.store.fetch("SELECT * FROM waivers WHERE id = ?", [waiver_id])
        if not rows:
            raise NotFound(f"no waiver {waiver_id}", details={"waiver_id": waiver_id})
        return Waiver.model_validate(rows[0])

    async def decide(
        self, waiver: Waiver, task: Task, actor: str, approve: bool, reason: str
    ) -> Waiver:
        """Record the decision; an approval moves the rejected task to ``succeeded`` (waived).

        A decision the rules refuse to this actor (their own request) is audited too, as
        ``waiver.refused``, before the ``Forbidden`` goes back to the caller.
        """
        try:
            decided = decide_waiver(waiver, actor, approve, reason)
        except Forbidden as exc:
            await self.book.store.write(
                EventIn(
                    actor=actor,
                    action="waiver.refused",
                    resource_type="waiver",
                    resource_id=waiver.id,
                    details={
                        "task_id": task.id,
                        "approve": approve,
                        "reason": reason,
                        "why": exc.message,
                    },
                )
            )
            raise
        ev = EventIn(
            actor=actor,
            action=f"waiver.{decided.state.value}",
            resource_type="waiver",
            resource_id=waiver.id,
            details={"task_id": task.id, "reason": reason},
        )
        row = Upsert("waivers", [decided.model_dump(mode="python")])
        if decided.state is not WaiverState.APPROVED:
            await self.book.store.write(row, ev)
            return decided
        if task.state is not TaskState.REJECTED:
            raise Conflict(
                f"task {task.id} is {task.state.value}, not rejected",
                details={"task_id": task.id, "state": task.state.value},
            )
        new, tev = change(
            task,
            TaskState.SUCCEEDED,
            actor=actor,
            verdict="waived",
            reason=f"waived: {reason}",
            finished_at=task.finished_at,
            extra={"waiver_id": waiver.id},
        )
        await self.book.commit([Step(task, new, tev)], [row, ev])
        return decided
