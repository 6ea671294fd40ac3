"""The orchestrator's memory of live tasks, and the one place where task changes commit.

``Book.commit`` applies a list of steps (old task -> new task + its event) to memory at
once (queue, locks, worker slots, KPIs), then writes the task rows, attempt rows, extra
rows and events in ONE write through the repositories. Memory changes before the write is awaited, so a
concurrent change sees the new state at once and the lifecycle table is checked against
the latest state; the store's writer keeps the order of writes, so events stay in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from agency.control.tasks.kpis import Kpis
from agency.control.tasks.lifecycle import effective_deadline
from agency.control.tasks.locks import LockTable
from agency.control.tasks.queue import TaskQueue
from agency.fleet import Registry
from agency.models import Attempt, Event, EventIn, Task, TaskState
from agency.storage import Repositories, WriteOp

Op = WriteOp  # what a commit persists: rows of any table family, events
_RECENT = 10_000  # finished tasks kept in memory for reads

log = logging.getLogger("agency.orchestrator")


@dataclass
class Step:
    """One recorded change: the task before (None when new), after, and the event."""

    old: Task | None
    new: Task
    event: EventIn


def ended_attempt(step: Step) -> Attempt | None:
    """The attempt record when ``step`` ends the task's attempt (it leaves flight).

    Written once, when the attempt ends, in the same transaction as the task row; a
    dispatch the worker refused gives its number back and leaves no record.
    """
    old, new = step.old, step.new
    if old is None or not old.state.in_flight or new.state.in_flight or new.attempt < old.attempt:
        return None
    return Attempt(
        task_id=new.id,
        attempt=old.attempt,
        worker_id=old.worker_id,
        state=new.state,
        reason=new.reason,
        exit_code=new.exit_code,
        started_at=old.dispatched_at or new.updated_at,
        finished_at=new.updated_at,
    )


@dataclass
class Book:
    """Live (non-terminal) tasks and the structures derived from them."""

    repos: Repositories
    registry: Registry
    kpis: Kpis
    tasks: dict[str, Task] = field(default_factory=dict)
    queue: TaskQueue = field(default_factory=TaskQueue)
    locks: LockTable = field(default_factory=LockTable)
    #: pending tasks parked until a lock they wait for is released
    waiting: set[str] = field(default_factory=set)
    #: in-flight task id -> monotonic time we last heard of it (the poll fallback's clock)
    flying: dict[str, float] = field(default_factory=dict)
    #: tasks that hold a slot reserved in the registry (released when they leave flight)
    reserved: set[str] = field(default_factory=set)
    #: (epoch deadline, task id): checked by the tracker; stale entries are skipped
    deadlines: list[tuple[float, str]] = field(default_factory=list)
    #: task id -> wall time it became pending (queue time KPI)
    queued_at: dict[str, float] = field(default_factory=dict)
    #: set whenever something may be dispatchable (new task, free slot or lock, new worker)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: the latest finished tasks, so reads never race the write that stores them
    recent: OrderedDict[str, Task] = field(default_factory=OrderedDict)
    #: parent id -> its live (non-terminal) children, for the cancel cascade
    children: dict[str, set[str]] = field(default_factory=dict)
    #: commits applied to memory whose write has not returned yet
    writing: int = 0
    #: replaced on every change, the old one set: every waiter wakes, none can miss it
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake everyone waiting in ``wait_change``."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, timeout: float | None) -> None:
        """Return at the next ``notify`` or after ``timeout`` seconds.

        Check the condition you wait for right before calling, without an ``await`` in
        between: the event is taken at call time, so no change can slip in unseen.
        """
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), None if timeout is None else max(0.0, timeout))

    def get(self, task_id: str) -> Task | None:
        """A live task (``None`` when it is finished or unknown)."""
        return self.tasks.get(task_id)

    def latest(self, task_id: str) -> Task | None:
        """A live or recently finished task, as memory knows it."""
        return self.tasks.get(task_id) or self.recent.get(task_id)

    def link(self, task: Task) -> None:
        """Index ``task`` under its parent while it lives, drop it once it has ended."""
        if task.parent_id is None:
            return
        if not task.state.terminal:
            self.children.setdefault(task.parent_id, set()).add(task.id)
            return
        siblings = self.children.get(task.parent_id)
        if siblings is not None:
            siblings.discard(task.id)
            if not siblings:
                del self.children[task.parent_id]

    def live_children(self, task_id: str) -> list[Task]:
        """``task_id``'s children that have not ended, oldest first."""
        ids = sorted(self.children.get(task_id, ()))
        return [t for cid in ids if (t := self.tasks.get(cid)) is not None]

    def in_flight_on(self, worker_id: str) -> list[Task]:
        return [t for tid in self.flying if (t := self.tasks[tid]).worker_id == worker_id]

    def _apply(self, step: Step) -> None:
        old, new = step.old, step.new
        src = old.state if old is not None else None
        dst = new.state
        self.link(new)
        if dst.terminal:
            self.tasks.pop(new.id, None)
            self.recent[new.id] = new
            self.recent.move_to_end(new.id)
            if len(self.recent) > _RECENT:
                self.recent.popitem(last=False)
            self.queue.remove(new.id)
            self.waiting.discard(new.id)
            self.locks.forget(new.id)
            self.queued_at.pop(new.id, None)
        else:
            self.tasks[new.id] = new
            self.recent.pop(new.id, None)
        if src is not None and src.in_flight and not dst.in_flight and old is not None:
            self.flying.pop(new.id, None)
            if old.worker_id and new.id in self.reserved:
                self.reserved.discard(new.id)
                self.registry.release(old.worker_id)
            for woken in self.locks.release(new.id, old.locks):
                self._requeue(woken)
            self.wake.set()
        if dst.in_flight:
            self.flying[new.id] = time.monotonic()
        if dst is TaskState.PENDING and src is not TaskState.PENDING:
            self.queued_at[new.id] = time.time()
            self.queue.push(new, time.time())
            self.wake.set()
        elif src is TaskState.PENDING and dst is not TaskState.PENDING:
            self.queue.remove(new.id)
            self.waiting.discard(new.id)
            self.locks.forget(new.id)
        if src != dst:
            self.kpis.moved(src, dst)
        if dst is TaskState.DISPATCHED and src is not TaskState.DISPATCHED:
            since = self.queued_at.pop(new.id, None)
            if since is not None:
                self.kpis.dispatched(time.time() - since)
        if dst.terminal and src is not None and not src.terminal:
            run = (
                (new.finished_at - new.dispatched_at).total_seconds()
                if new.finished_at and new.dispatched_at
                else None
            )
            self.kpis.finished_task(dst, run)

    def _requeue(self, task_id: str) -> None:
        task = self.tasks.get(task_id)
        if task_id in self.waiting and task is not None and task.state is TaskState.PENDING:
            self.waiting.discard(task_id)
            self.queue.push(task, time.time())

    def watch_deadline(self, task: Task) -> None:
        """Have the tracker check ``task`` when its effective deadline passes."""
        ends = effective_deadline(task)
        if ends is not None:
            heapq.heappush(self.deadlines, (ends.timestamp(), task.id))

    def park(self, task: Task) -> None:
        """Hold a pending task aside until a lock it waits for is released."""
        self.waiting.add(task.id)

    async def commit(self, steps: Sequence[Step], extra: Sequence[Op] = ()) -> list[Event]:
        """Apply ``steps`` to memory, then persist them with ``extra`` in one write."""
        return await self.write(self.stage(steps, extra))

    async def write(self, ops: Sequence[Op]) -> list[Event]:
        """Persist staged operations; ``writing`` counts it until the store has answered.

        Through the store's journal: task transitions are upserts and events, which cannot
        conflict, so they are acknowledged once on disk instead of after a DuckDB commit.
        """
        # shielded: a caller cancelled while waiting must not cancel the write's future
        # (the write lands anyway, and ``writing`` must count it until it has)
        return await asyncio.shield(self.write_nowait(ops))

    def write_nowait(self, ops: Sequence[Op]) -> asyncio.Future[list[Event]]:
        """Queue the write now (it joins this loop turn's group commit); await the future."""
        fut = self.repos.write_nowait(*ops, journal=True)
        self.writing += 1
        fut.add_done_callback(self._written)
        return fut

    def _written(self, _: asyncio.Future[list[Event]]) -> None:
        self.writing -= 1
        self.notify()

    def stage(self, steps: Sequence[Step], extra: Sequence[Op] = ()) -> list[Op]:
        """Apply ``steps`` to memory now; returns the operations that persist them."""
        latest: dict[str, Task] = {}
        attempts: list[Attempt] = []
        for step in steps:
            self._apply(step)
            latest[step.new.id] = step.new
            if step.new.state is TaskState.FAILED and (
                step.old is None or step.old.state is not TaskState.FAILED
            ):
                # a failure is an event worth its one console line (successes are not)
                log.info("task %s (%s) failed: %s", step.new.id, step.new.kind, step.new.reason)
            ended = ended_attempt(step)
            if ended is not None:
                attempts.append(ended)
        self.notify()
        ops = self.repos.tasks.changes(latest.values(), attempts)
        ops.extend(extra)
        ops.extend(step.event for step in steps)
        return ops
