"""Cancel as a visible lifecycle, for one task or many.

``pending``/``paused``/``orphaned`` tasks are canceled at once. An in-flight task goes
``cancel_requested`` (event with actor and reason), the worker is told, the task turns
``canceling`` when the worker acknowledges and ``canceled`` only when the worker reports
its processes gone. The worker escalates SIGTERM to SIGKILL after ``cancel_grace`` itself;
the control plane re-sends the cancel after each grace window it waits without an answer.
An *abort* is forced: when the worker has not confirmed within one grace window the task
is ``canceled`` anyway (reason ``aborted``), and the attempt is canceled on sight should
the worker show it again. An unreachable worker ends it ``canceled`` (``worker-unreachable``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from agency.control.tasks.book import Book, Step
from agency.control.tasks.lifecycle import change
from agency.control.tasks.outcomes import UNREACHABLE, Outcomes, ended_cancel
from agency.errors import AgencyError, NotFound, WorkerError
from agency.fleet import Registry
from agency.models import Task, TaskState
from agency.settings import Settings

log = logging.getLogger("agency.orchestrator")

ABORTED = "aborted"
_CANCEL_FROM = (TaskState.PENDING, TaskState.PAUSED, TaskState.ORPHANED)
_WINDOWS = 4  # grace windows a cancel follow-up waits before leaving it to the poll loop


def cancel_reason(actor: str, reason: str | None) -> str:
    return f"canceled by {actor}: {reason}" if reason else f"canceled by {actor}"


class Canceller:
    """Runs the cancel lifecycle; one follow-up job per in-flight cancel."""

    def __init__(
        self,
        book: Book,
        registry: Registry,
        outcomes: Outcomes,
        settings: Settings,
        sending: set[str],
    ) -> None:
        self.book = book
        self.registry = registry
        self.outcomes = outcomes
        self.settings = settings
        self.sending = sending
        self._jobs: dict[str, asyncio.Task[None]] = {}

    async def cancel(
        self,
        task: Task,
        actor: str,
        reason: str | None,
        *,
        force: bool = False,
        why: str | None = None,
    ) -> Task:
        """Start (or join) the cancel of a live ``task``; idempotent. Its live children are
        canceled too, down the tree, each through its own visible cancel."""
        text = why or cancel_reason(actor, reason)
        if task.state in _CANCEL_FROM:
            new, ev = change(
                task, TaskState.CANCELED, actor=actor, reason=text, extra={"forced": force}
            )
            await self.book.commit([Step(task, new, ev)])
            await self._cascade(new, actor, force)
            return new
        if task.state in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
            if force and task.id in self._jobs:
                self._follow(task.id, force=True)
            return task
        new, ev = change(
            task, TaskState.CANCEL_REQUESTED, actor=actor, reason=text, extra={"forced": force}
        )
        await self.book.commit([Step(task, new, ev)])
        self._follow(task.id, force=force)
        await self._cascade(new, actor, force)
        return new

    async def _cascade(self, parent: Task, actor: str, force: bool) -> None:
        """Cancel ``parent``'s live children (each recursing into its own), audited as
        ``actor``'s cancel with a reason that names the parent."""
        children = [c.id for c in self.book.live_children(parent.id)]
        if not children:
            return
        why = f"{cancel_reason(actor, None)}: parent {parent.id} was canceled"
        await asyncio.gather(*(self._cancel_child(cid, actor, force, why) for cid in children))

    async def _cancel_child(self, task_id: str, actor: str, force: bool, why: str) -> None:
        # read right before the change is staged (no await in between): never a stale copy
        child = self.book.get(task_id)
        if child is not None:
            await self.cancel(child, actor, None, force=force, why=why)

    def _follow(self, task_id: str, *, force: bool) -> None:
        old = self._jobs.pop(task_id, None)
        if old is not None:
            old.cancel()
        job = asyncio.get_running_loop().create_task(self._follow_up(task_id, force))
        self._jobs[task_id] = job
        job.add_done_callback(
            lambda j: self._jobs.pop(task_id, None) if self._jobs.get(task_id) is j else None
        )

    def resume(self, task: Task) -> None:
        """After a restart: keep following a cancel that was under way."""
        if task.id not in self._jobs:
            self._follow(task.id, force=False)

    def _live(self, task_id: str) -> Task | None:
        task = self.book.get(task_id)
        if task is None or task.state not in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
            return None
        return task

    async def _wait_change(self, until: float) -> None:
        await self.book.wait_change(until - time.monotonic())

    async def _follow_up(self, task_id: str, force: bool) -> None:
        # a dispatch still being sent must land first, or the worker would not know the task
        until = time.monotonic() + self.settings.request_timeout * 2
        while task_id in self.sending and time.monotonic() < until:
            await self._wait_change(min(until, time.monotonic() + 0.5))
        grace = max(self.settings.cancel_grace, 0.1)
        for window in range(_WINDOWS):
            task = self._live(task_id)
            if task is None or not await self._tell_worker(task):
                return
            if force and window >= 1:
                await self._force(task_id)
                return
            await self._watch(task_id, time.monotonic() + grace + 0.5)
        log.warning(
            "cancel of %s not confirmed after %d grace windows; the poll loop follows it",
            task_id,
            _WINDOWS,
        )

    async def _tell_worker(self, task: Task) -> bool:
        """POST the cancel; False when the task ended because of the answer."""
        assert task.worker_id is not None
        try:
            status = await self.registry.client(task.worker_id).cancel(task.id)
        except NotFound:
            await self._end(task, f"{task.reason}; unknown to worker {task.worker_id}")
            return False
        except WorkerError as exc:
            log.warning("cancel of %s: worker %s unreachable: %s", task.id, task.worker_id, exc)
            self.outcomes.strays.add((task.worker_id, task.id))
            await self._end(task, UNREACHABLE)
            return False
        except AgencyError as exc:
            log.warning("cancel of %s refused by %s: %s", task.id, task.worker_id, exc)
            return True
        await self.outcomes.apply(status, task.worker_id)
        return self._live(task.id) is not None

    async def _watch(self, task_id: str, until: float) -> None:
        """Poll the worker until the task ends or ``until`` (bounded, backing off)."""
        delay = 0.05
        while time.monotonic() < until:
            task = self._live(task_id)
            if task is None or task.worker_id is None:
                return
            try:
                status = await self.registry.client(task.worker_id).task_status(task.id)
            except AgencyError as exc:
                log.info("cancel watch of %s: %s", task_id, exc)
            else:
                await self.outcomes.apply(status, task.worker_id)
            await self._wait_change(min(until, time.monotonic() + delay))
            delay = min(0.5, delay * 2)

    async def _force(self, task_id: str) -> None:
        task = self._live(task_id)
        if task is None:
            return
        if task.worker_id:
            self.outcomes.strays.add((task.worker_id, task.id))
        await self._end(task, f"{ABORTED}: {task.reason}")

    async def _end(self, task: Task, reason: str) -> None:
        current = self._live(task.id)
        if current is None:
            return
        new, ev = ended_cancel(current, reason)
        await self.book.commit([Step(current, new, ev)])

    async def stop(self) -> None:
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
