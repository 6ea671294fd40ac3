"""Following in-flight tasks without pushed reports, and enforcing deadlines.

The poll fallback asks a worker about every in-flight task it has not heard of for
``poll_interval`` seconds (pushed reports reset that clock), so a lost report is never a
lost task. The deadline check ends tasks past their deadline: a queued one fails at once,
an in-flight one is canceled on its worker and fails with reason ``deadline``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time

from agency.control.tasks.book import Book, Step
from agency.control.tasks.cancel import Canceller
from agency.control.tasks.lifecycle import change, effective_deadline
from agency.control.tasks.outcomes import DEADLINE, Outcomes, ended_cancel
from agency.control.tasks.workers import FleetWatch
from agency.errors import NotFound, WorkerError
from agency.fleet import Registry
from agency.models import TaskState, utcnow
from agency.settings import Settings

log = logging.getLogger("agency.orchestrator")

_POLLS_AT_ONCE = 32


class Tracker:
    """Runs the poll fallback and the deadline checks on one timer."""

    def __init__(
        self,
        book: Book,
        registry: Registry,
        outcomes: Outcomes,
        canceller: Canceller,
        fleet: FleetWatch,
        settings: Settings,
        sending: set[str],
    ) -> None:
        self.book = book
        self.registry = registry
        self.outcomes = outcomes
        self.canceller = canceller
        self.fleet = fleet
        self.settings = settings
        self.sending = sending
        self._polling: set[str] = set()
        self._limit = asyncio.Semaphore(_POLLS_AT_ONCE)
        self._jobs: set[asyncio.Task[None]] = set()

    @property
    def tick(self) -> float:
        return min(0.25, max(0.02, self.settings.poll_interval / 4))

    async def run(self) -> None:
        """The timer loop; cancel its task to stop it."""
        while True:
            try:
                self.poll_due()
                await self.check_deadlines()
            except Exception:  # one bad round must not stop the fallback for good
                log.exception("tracking round failed")
            await asyncio.sleep(self.tick)

    def poll_due(self) -> None:
        now = time.monotonic()
        for task_id, seen in list(self.book.flying.items()):
            if now - seen < self.settings.poll_interval or task_id in self._polling:
                continue
            if task_id in self.sending:
                continue
            self.book.flying[task_id] = now
            self._polling.add(task_id)
            job = asyncio.ensure_future(self._poll(task_id))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)

    async def _poll(self, task_id: str) -> None:
        try:
            async with self._limit:
                task = self.book.get(task_id)
                if task is None or not task.state.in_flight or task.worker_id is None:
                    return
                try:
                    client = self.registry.client(task.worker_id)
                except NotFound:
                    if self.fleet.grace_over:
                        await self.outcomes.orphan(task, f"worker {task.worker_id} is unknown")
                    return
                try:
                    status = await client.task_status(task_id)
                except NotFound:
                    task = self.book.get(task_id)
                    if task is None or not task.state.in_flight or task_id in self.sending:
                        return
                    if task.state in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
                        new, ev = ended_cancel(
                            task, f"{task.reason}; unknown to worker {task.worker_id}"
                        )
                        await self.book.commit([Step(task, new, ev)])
                    else:
                        await self.outcomes.orphan(
                            task, f"unknown to worker {task.worker_id}", maybe_alive=False
                        )
                    return
                except WorkerError as exc:
                    log.info("poll of %s on %s failed: %s", task_id, task.worker_id, exc)
                    return
                await self.outcomes.apply(status, client.worker_id)
        except Exception:
            log.exception("poll of %s failed", task_id)
        finally:
            self._polling.discard(task_id)

    async def check_deadlines(self) -> None:
        now = time.time()
        heap = self.book.deadlines
        while heap and heap[0][0] <= now:
            _, task_id = heapq.heappop(heap)
            task = self.book.get(task_id)
            if task is None:
                continue
            ends = effective_deadline(task)
            if ends is None:
                continue
            if ends.timestamp() > now:
                heapq.heappush(heap, (ends.timestamp(), task_id))  # re-dispatched since: later
                continue
            await self._deadline(task_id)

    async def _deadline(self, task_id: str) -> None:
        task = self.book.get(task_id)
        if task is None:
            return
        if task.state in (TaskState.PENDING, TaskState.PAUSED, TaskState.ORPHANED):
            new, ev = change(
                task, TaskState.FAILED, actor="system", reason=DEADLINE, finished_at=utcnow()
            )
            await self.book.commit([Step(task, new, ev)])
        elif task.state in (TaskState.DISPATCHED, TaskState.RUNNING):
            await self.canceller.cancel(task, "system", None, why=DEADLINE)

    async def stop(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
