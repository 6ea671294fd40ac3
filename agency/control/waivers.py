"""Waivers: asking to accept a task its gates rejected, and deciding.

The rules (who may ask, who may decide, how often) are ``agency.governance``'s; this
service applies them, stores each waiver and, on approval, turns the rejected task
``succeeded`` with the verdict ``waived`` in the same write. Every request, decision and
refused decision is an event with its actor.
"""

from __future__ import annotations

from agency.control.tasks import Orchestrator
from agency.control.tasks.book import Step
from agency.control.tasks.lifecycle import change
from agency.errors import Conflict, Forbidden, NotFound
from agency.governance import decide_waiver, request_waiver
from agency.models import EventIn, TaskState, Waiver, WaiverState


class WaiverService:
    """Requests, decisions and listings of waivers."""

    def __init__(self, tasks: Orchestrator) -> None:
        self.tasks = tasks
        self.masker = tasks.masker  # reasons are masked before they are stored
        self.repo = tasks.repos.waivers
        self.events = tasks.repos.events

    async def request(self, task_id: str, actor: str, reason: str) -> Waiver:
        """Ask for a waiver of the task's rejection (the governance rules decide if allowed)."""
        task = await self.tasks.get(task_id)
        reason = self.masker.text(reason)
        waiver = request_waiver(task, actor, reason, await self.repo.for_task(task.id))
        ev = EventIn(
            actor=actor,
            action="waiver.requested",
            resource_type="waiver",
            resource_id=waiver.id,
            details={"task_id": task.id, "reason": reason},
        )
        await self.repo.save(waiver, ev)
        return waiver

    async def get(self, waiver_id: str) -> Waiver:
        waiver = await self.repo.get(waiver_id)
        if waiver is None:
            raise NotFound(f"no waiver {waiver_id}", details={"waiver_id": waiver_id})
        return waiver

    async def find(
        self, task_id: str | None = None, state: WaiverState | None = None, limit: int = 200
    ) -> list[Waiver]:
        """Waivers, newest first."""
        return await self.repo.find(task_id=task_id, state=state, limit=limit)

    async def decide(self, waiver_id: str, actor: str, approve: bool, reason: str) -> Waiver:
        """Record the decision; an approval moves the rejected task to ``succeeded`` (waived).

        A decision the rules refuse to this actor (their own request) is audited too, as
        ``waiver.refused``, before the ``Forbidden`` goes back to the caller.
        """
        waiver = await self.get(waiver_id)
        reason = self.masker.text(reason)
        task = await self.tasks.get(waiver.task_id)
        try:
            decided = decide_waiver(waiver, actor, approve, reason)
        except Forbidden as exc:
            await self.events.append(
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
        if decided.state is not WaiverState.APPROVED:
            await self.repo.save(decided, ev)
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
        await self.tasks.book.commit([Step(task, new, tev)], [self.repo.save_op(decided), ev])
        return decided
