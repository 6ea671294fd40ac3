"""The dispatcher: pops the best pending task, places it on a worker, and sends it.

One loop wakes on ``Book.wake`` (a new task, a freed slot or lock, a new worker) or at the
next ``not_before``; it never sleep-polls. Each placement reserves a worker slot and starts
its own asyncio task, so as many dispatches are in flight as there are free slots.

What a dispatch answer means:

* a status: ``running`` or, for inline kinds like noop, already final; applied as is;
* ``WorkerFull`` or ``CircuitOpen``: the worker certainly did not start it, so the task goes
  back to ``pending`` and the attempt is not consumed (its number is given back);
* ``WorkerRejected`` with 401/403: the worker refuses the control plane's credential, not the
  task: the worker goes unhealthy with that reason (``on_refused`` stores and alerts it) and
  the task goes back to ``pending`` for another worker, its attempt not consumed;
* ``WorkerRejected`` / ``InvalidSpec`` / ``SandboxDenied``: the worker refuses the spec, which
  no retry fixes: ``failed`` with the worker's message (a denial also records one
  ``task.sandbox_denied`` audit event with the path and rule);
* ``WorkerUnavailable`` / ``WorkerTimeout``: the request may have reached the worker, so the
  attempt is *in doubt*: it stays ``dispatched`` and the poll fallback asks the worker; a
  worker that does not know it orphans it, a worker that stays silent is swept unhealthy and
  its tasks orphaned. Either way the task is retried by its policy, never run twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from agency.control.budgets import BudgetBook
from agency.control.tasks.book import Book, Op, Step
from agency.control.tasks.denials import denial_event, denials_from_error
from agency.control.tasks.lifecycle import change, effective_deadline
from agency.control.tasks.outcomes import Outcomes
from agency.control.tasks.waiting import own, unplaced_reasons
from agency.errors import (
    AgencyError,
    CircuitOpen,
    NotFound,
    SandboxDenied,
    StoreClosed,
    WorkerFull,
    WorkerRejected,
)
from agency.fleet import Registry
from agency.models import (
    Event,
    Task,
    TaskState,
    WorkerHealth,
    WorkerInfo,
    WorkerTaskRequest,
    utcnow,
)

log = logging.getLogger("agency.orchestrator")

AUTH_REFUSALS = frozenset({401, 403})


class Dispatcher:
    """Places pending tasks on workers; see the module docstring for the answers."""

    def __init__(
        self,
        book: Book,
        registry: Registry,
        outcomes: Outcomes,
        budgets: BudgetBook,
        mint: Callable[[Task], str | None] | None = None,
    ) -> None:
        self.book = book
        #: the scoped token a process task gets (``AGENCY_TOKEN``), minted per attempt
        self.mint = mint or (lambda _task: None)
        self.registry = registry
        self.outcomes = outcomes
        self.budgets = budgets
        self.paused = False
        #: pending tasks a reached fleet budget holds back (``release_held`` rechecks them)
        self.held: set[str] = set()
        #: stores and alerts a worker that refuses our credential (the fleet watch's)
        self.on_refused: Callable[[WorkerInfo], Awaitable[None]] | None = None
        #: task ids whose POST /task is outstanding: the poll fallback leaves them alone
        self.sending: set[str] = set()
        self._jobs: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """The dispatch loop; cancel its task to stop it."""
        while True:
            self.book.wake.clear()
            try:
                self._place_all()
            except StoreClosed:
                # stopping: what was staged but not written is recovered from the database
                log.info("the store is closed; dispatching stops")
                return
            timeout = None
            ready_at = self.book.queue.next_ready_at()
            if ready_at is not None:
                timeout = max(0.0, ready_at - time.time())
            if timeout is None:
                # awaited directly: wait_for would add a task and a loop turn to every wake
                await self.book.wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.book.wake.wait(), timeout)

    def _place_all(self) -> None:
        """Start a dispatch for every ready task that has a free matching worker."""
        if self.paused:
            return
        now = time.time()
        unplaced: list[Task] = []
        while True:
            task_id = self.book.queue.pop(now)
            if task_id is None:
                break
            task = self.book.get(task_id)
            if task is None or task.state is not TaskState.PENDING:
                continue
            blocking = self.book.locks.blocked_by(task.id, task.locks)
            if blocking:
                self.book.locks.acquire(task.id, task.locks)  # registers it as a waiter
                self.book.park(task)
                if blocking != task.waiting_for:
                    self._spawn(self._note_waiting(task, blocking))
                continue
            capped = self.budgets.blocking(task.labels) if self.budgets.budgets else []
            if capped:
                self.held.add(task.id)
                if capped != task.waiting_for:
                    self._spawn(self._note_waiting(task, capped))
                continue
            worker = self._pick(task)
            if worker is None:
                unplaced.append(task)
                self._explain(task)
                if not self._any_free_slot():
                    break
                continue
            self.book.locks.acquire(task.id, task.locks)
            self.registry.reserve(worker.id)
            self.book.reserved.add(task.id)
            # staged now, not in the job: nothing can slip between the pop and the change
            new, ev = change(
                task,
                TaskState.DISPATCHED,
                actor="system",
                worker_id=worker.id,
                attempt=task.attempt + 1,
                dispatched_at=utcnow(),
                started_at=None,
                finished_at=None,
                exit_code=None,
                waiting_for=[],
                not_before=None,
                reason=None,
            )
            self.sending.add(task.id)
            # queued right away: a task submitted this turn is created and dispatched in
            # one group commit; the worker is called only once the dispatch is durable
            written = self.book.write_nowait(self.book.stage([Step(task, new, ev)]))
            self.book.watch_deadline(new)
            self._spawn(self._send(new, worker, written))
        for task in unplaced:
            self.book.queue.push(task, now)

    def release_held(self) -> None:
        """Queue again the held tasks no reached budget matches any more."""
        now = time.time()
        for task_id in list(self.held):
            task = self.book.get(task_id)
            if task is None or task.state is not TaskState.PENDING:
                self.held.discard(task_id)
            elif not self.budgets.blocking(task.labels):
                self.held.discard(task_id)
                self.book.queue.push(task, now)
                self.book.wake.set()

    def _pick(self, task: Task) -> WorkerInfo | None:
        # a follow-up in a session runs where that session's workspace is, or waits for it
        holder = self.outcomes.runs.session_worker(task)
        for worker in self.registry.candidates(task.kind, task.labels):
            if holder is not None and worker.id != holder:
                continue
            # never next to an attempt of the same task that may still be alive there
            if (
                worker.running < worker.capacity
                and (worker.id, task.id) not in self.outcomes.strays
            ):
                return worker
        return None

    def _explain(self, task: Task) -> None:
        """Record why no worker took ``task`` (no carrier of its labels, breakers open), or
        clear such a reason once it no longer holds; full workers are no reason."""
        why = unplaced_reasons(task, self.registry.list())
        if why != task.waiting_for and (why or own(task.waiting_for)):
            self._spawn(self._note_waiting(task, why))

    def _any_free_slot(self) -> bool:
        return any(
            w.health is WorkerHealth.HEALTHY and w.running < w.capacity
            for w in self.registry.list()
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        job = asyncio.ensure_future(coro)
        self._jobs.add(job)
        job.add_done_callback(self._done)

    def _done(self, job: asyncio.Task[None]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("dispatch job failed", exc_info=job.exception())

    async def _note_waiting(self, task: Task, blocking: list[str]) -> None:
        current = self.book.get(task.id)
        if (
            current is None
            or current.state is not TaskState.PENDING
            or current.waiting_for == blocking
        ):
            return
        new, ev = change(
            current,
            TaskState.PENDING,
            actor="system",
            action="task.waiting",
            reason=f"waiting for {', '.join(blocking)}" if blocking else None,
            waiting_for=blocking,
        )
        await self.book.commit([Step(current, new, ev)])

    async def _send(
        self, new: Task, worker: WorkerInfo, written: asyncio.Future[list[Event]]
    ) -> None:
        try:
            await asyncio.shield(written)  # a stop must not cancel the write itself
            request = WorkerTaskRequest(
                task_id=new.id,
                attempt=new.attempt,
                kind=new.kind,
                spec=new.spec,
                deadline=self._deadline(new),
                agency_token=self.mint(new),
            )
            try:
                status = await self.registry.client(worker.id).submit(request)
            except (WorkerFull, CircuitOpen) as exc:
                await self._give_back(new, worker, exc)
                return
            except WorkerRejected as exc:
                if exc.details.get("status") in AUTH_REFUSALS:
                    await self._locked_out(new, worker, exc)
                else:
                    await self._refused(new, worker, exc)
                return
            except NotFound as exc:
                await self._refused(new, worker, exc)
                return
            except AgencyError as exc:
                if exc.status < 500:
                    await self._refused(new, worker, exc)
                else:
                    log.warning("dispatch of %s to %s in doubt: %s", new.id, worker.id, exc)
                return
        finally:
            self.sending.discard(new.id)
            self.book.notify()
        await self.outcomes.apply(status, worker.id)

    @staticmethod
    def _deadline(task: Task) -> datetime | None:
        return effective_deadline(task)

    async def _give_back(self, task: Task, worker: WorkerInfo, exc: AgencyError) -> None:
        current = self.book.get(task.id)
        if (
            current is None
            or current.state is not TaskState.DISPATCHED
            or current.attempt != task.attempt
        ):
            return
        new, ev = change(
            current,
            TaskState.PENDING,
            actor="system",
            reason=f"{exc.code} on {worker.id}",
            attempt=current.attempt - 1,
            worker_id=None,
            dispatched_at=None,
        )
        await self.book.commit([Step(current, new, ev)])

    async def _locked_out(self, task: Task, worker: WorkerInfo, exc: AgencyError) -> None:
        """The worker refuses our bearer: take it out of rotation, give the task back."""
        reason = (
            f"refuses the control plane's credential ({exc.details.get('status')}: "
            f"{exc.message}); it gets no work until it registers again"
        )
        changed = self.registry.refuse(worker.id, reason)
        if changed is not None and self.on_refused is not None:
            await self.on_refused(changed)
        await self._give_back(task, worker, exc)

    async def _refused(self, task: Task, worker: WorkerInfo, exc: AgencyError) -> None:
        current = self.book.get(task.id)
        if (
            current is None
            or current.state is not TaskState.DISPATCHED
            or current.attempt != task.attempt
        ):
            return
        if self.outcomes.finishing(task.id):
            return  # the worker's report of the same refusal is being applied: it records it
        new, ev = change(
            current, TaskState.FAILED, actor=worker.id, reason=f"{exc.code}: {exc.message}"
        )
        extra: list[Op] = []
        if isinstance(exc, SandboxDenied):
            extra.append(denial_event(current, worker.id, denials_from_error(exc)))
        await self.book.commit([Step(current, new, ev)], extra)

    async def stop(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
