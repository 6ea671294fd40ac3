"""Rebuilding the orchestrator's memory from the database at start.

Every non-terminal task is loaded: ``pending`` ones back in the queue, ``paused`` ones held,
``orphaned`` ones through their retry policy, in-flight ones with their locks and worker
slots taken again and their worker asked at once (the poll fallback's clock is set to
zero). Workers come back from their stored records, unhealthy until they heartbeat; an
in-flight task whose worker stays silent past the start-up grace is orphaned by the sweep.
A remote agent's (ag-agent-claude) in-flight attempt gets its agent task id back from
``agent_links``, so it is polled, cancelled and finished like any other; links of attempts
that are over are dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from agency.control.tasks.book import Book
from agency.control.tasks.cancel import Canceller
from agency.control.tasks.outcomes import Outcomes
from agency.errors import NotFound, WorkerFull
from agency.fleet import Registry
from agency.models import AgentLink, Task, TaskState

log = logging.getLogger("agency.orchestrator")


async def recover(
    book: Book, registry: Registry, outcomes: Outcomes, canceller: Canceller, keys: dict[str, str]
) -> dict[str, Any]:
    """Load live tasks and workers into memory; returns counts for the log and health."""
    started = time.perf_counter()
    workers = await book.repos.workers.all(include_removed=True)
    registry.restore(workers)
    book.kpis.load_counts(await book.repos.tasks.counts_by_state())
    tasks = await book.repos.tasks.unfinished()
    now = time.time()
    orphans: list[Task] = []
    in_flight = 0
    for task in tasks:
        book.tasks[task.id] = task
        book.link(task)
        if task.idempotency_key:
            keys[task.idempotency_key] = task.id
        if task.state is TaskState.PENDING:
            book.queued_at[task.id] = now
            book.queue.push(task, now)
            book.watch_deadline(task)
        elif task.state is TaskState.PAUSED:
            book.watch_deadline(task)
        elif task.state is TaskState.ORPHANED:
            orphans.append(task)
        else:
            in_flight += 1
            _adopt(book, registry, task)
            if task.state in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
                canceller.resume(task)
    links = await _relink(book, registry)
    for task in orphans:
        await book.commit([outcomes.retry_step(task, "system", f"orphaned ({task.reason})")])
    book.wake.set()
    summary = {
        "live": len(tasks),
        "in_flight": in_flight,
        "orphans_retried": len(orphans),
        "workers": len(workers),
        "agent_tasks_relinked": links,
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info("recovered %s", summary)
    return summary


def _adopt(book: Book, registry: Registry, task: Task) -> None:
    """Take an in-flight task's locks and worker slot again; ask its worker right away."""
    blocking = book.locks.acquire(task.id, task.locks)
    if blocking:  # cannot happen unless the database was edited: say so, keep going
        log.error("task %s in flight without its locks %s", task.id, blocking)
    if task.worker_id:
        try:
            registry.reserve(task.worker_id)
            book.reserved.add(task.id)
        except WorkerFull:
            log.warning("worker %s holds more tasks than its capacity", task.worker_id)
        except NotFound as exc:  # an unknown worker: the sweep orphans the task after the grace
            log.info("task %s on unknown worker %s: %s", task.id, task.worker_id, exc)
    book.flying[task.id] = 0.0
    book.watch_deadline(task)


async def _relink(book: Book, registry: Registry) -> int:
    """Hand each in-flight attempt on a remote agent its agent task id again; drop the rest."""
    live: list[AgentLink] = []
    stale: list[AgentLink] = []
    for link in await book.repos.workers.links():
        task = book.tasks.get(link.task_id)
        current = (
            task is not None
            and task.id in book.flying
            and task.attempt == link.attempt
            and task.worker_id == link.worker_id
        )
        (live if current else stale).append(link)
    restored = registry.restore_links(live)
    kept = {link.task_id for link in restored}
    await book.repos.workers.drop_links(
        [link.task_id for link in [*live, *stale] if link.task_id not in kept]
    )
    return len(restored)
