"""The orchestrator under test with real worker processes, and the checks every test runs.

Without the API, workers run standalone: ``Heartbeats`` reads each worker's real
``GET /status`` and hands it to ``orch.heartbeat`` (what the worker's own link would post),
and completion comes from the poll fallback. ``assert_replays`` is the audit trail's promise:
every stored task equals the task rebuilt from its events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx

from agency.control.tasks import Orchestrator, replay_task
from agency.models import TASK_KINDS, Event, Task, WorkerHeartbeat, WorkerRegistration
from agency.settings import Settings
from agency.storage import EventRepository, Store, TaskQuery, TaskRepository

__all__ = [
    "QUICK",
    "REPLAYED",
    "Heartbeats",
    "Member",
    "assert_replays",
    "quick_settings",
    "register",
    "state_of",
    "task_events",
    "wait_until",
]

#: settings that make every timer of the orchestrator fire within a second
QUICK: dict[str, Any] = {
    "poll_interval": 0.1,
    "heartbeat_interval": 0.3,
    "cancel_grace": 1.0,
    "request_timeout": 2.0,
    "retry_attempts": 2,
    "retry_max_seconds": 1.0,
    "retry_backoff": 0.02,
    "breaker_reset": 1.0,
    "kpi_sample_interval": 0.5,
    "max_in_flight": 32,
}
#: the fields of a task that its replay must reproduce exactly
REPLAYED = ("state", "attempt", "worker_id", "reason", "priority", "exit_code")
_PAGE = 500  # rows per read when a check walks a whole table


class Member(Protocol):
    """A worker as the orchestrator sees it: an id, a URL and whether it still runs
    (a ``WorkerProc``, or a stand-in for a worker started elsewhere)."""

    worker_id: str

    @property
    def url(self) -> str: ...

    def alive(self) -> bool: ...


def quick_settings(data_dir: Path, **extra: Any) -> Settings:
    """``QUICK`` settings (then ``extra``) with the data directory in ``data_dir``."""
    return Settings.load(env={}, data_dir=data_dir, **{**QUICK, **extra})


async def register(orch: Orchestrator, workers: Iterable[Member], capacity: int) -> None:
    """Register each worker for every task kind with ``capacity`` slots."""
    for w in workers:
        await orch.register_worker(
            WorkerRegistration(
                id=w.worker_id, url=w.url, kinds=list(TASK_KINDS), capacity=capacity
            ),
            "test",
        )


class Heartbeats:
    """Posts each live worker's real status as its heartbeat, every ``interval`` seconds."""

    def __init__(self, orch: Orchestrator, workers: list[Member], interval: float) -> None:
        self.orch = orch
        self.workers = workers
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                for w in self.workers:
                    if not w.alive():
                        continue
                    with contextlib.suppress(httpx.HTTPError):
                        status = (await http.get(w.url + "/status")).json()
                        await self.orch.heartbeat(
                            WorkerHeartbeat(
                                id=w.worker_id,
                                running=status["running"],
                                draining=status["draining"],
                            )
                        )
                await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Heartbeats:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def task_events(store: Store, task_id: str | None = None) -> list[Event]:
    """The events about one task (or about every task), in the order they happened."""
    events = EventRepository(store)
    found: list[Event] = []
    while True:
        after = found[-1].seq if found else None
        page = await events.find(
            resource_type="task", resource_id=task_id, after_seq=after, limit=_PAGE
        )
        found += page
        if len(page) < _PAGE:
            return found


async def _stored_tasks(store: Store) -> list[Task]:
    """Every stored task, oldest first."""
    tasks = TaskRepository(store)
    found: list[Task] = []
    cursor: str | None = None
    while True:
        page = await tasks.page(TaskQuery(descending=False, limit=_PAGE, cursor=cursor))
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def assert_replays(store: Store, task_ids: Iterable[str] | None = None) -> list[Task]:
    """Every stored task equals its replay from the events (the audit trail is the truth)."""
    stored = {t.id: t for t in await _stored_tasks(store)}
    wanted = set(task_ids) if task_ids is not None else set(stored)
    by_task: dict[str, list[Event]] = {}
    for ev in await task_events(store):
        by_task.setdefault(ev.resource_id, []).append(ev)
    for task_id in wanted:
        rebuilt = replay_task(by_task[task_id])
        for name in REPLAYED:
            replayed, kept = getattr(rebuilt, name), getattr(stored[task_id], name)
            if replayed != kept:
                raise AssertionError(
                    f"task {task_id}: {name} is {kept!r}, its events say {replayed!r}"
                )
    return [stored[t] for t in wanted]


async def wait_until(orch: Orchestrator, check: Callable[[], Any], timeout: float = 20.0) -> None:
    """Wait (on the orchestrator's change signal, bounded) until ``check()`` is true."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while not check():
        left = until - loop.time()
        if left <= 0:
            raise TimeoutError(f"condition not met within {timeout}s")
        await orch.book.wait_change(min(left, 0.1))


def state_of(orch: Orchestrator, task_id: str) -> str | None:
    """The state the orchestrator holds for a task (``None``: it holds none)."""
    task = orch.book.latest(task_id)
    return task.state.value if task is not None else None
