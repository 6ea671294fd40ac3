"""The orchestrator under test with real worker processes, and the checks every test runs.

Until the API routes reports, workers run standalone: ``Heartbeats`` reads each worker's
real ``GET /status`` and hands it to ``orch.heartbeat`` (what the worker's own link would
post), and completion comes from the poll fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import httpx

from agency.control.tasks import Orchestrator, replay_task
from agency.models import (
    TASK_KINDS,
    Event,
    Task,
    WorkerHeartbeat,
    WorkerRegistration,
)
from agency.settings import Settings
from agency.storage import Store
from tests.helpers.procs import WorkerProc

QUICK = {
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


def quick_settings(tmp_path: Any, **extra: Any) -> Settings:
    return Settings.load(env={}, data_dir=tmp_path, **{**QUICK, **extra})


async def register(orch: Orchestrator, workers: Iterable[WorkerProc], capacity: int) -> None:
    for w in workers:
        await orch.register_worker(
            WorkerRegistration(
                id=w.worker_id, url=w.url, kinds=list(TASK_KINDS), capacity=capacity
            ),
            "test",
        )


class Heartbeats:
    """Posts each live worker's real status as its heartbeat, every ``interval`` seconds."""

    def __init__(self, orch: Orchestrator, workers: list[WorkerProc], interval: float) -> None:
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
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def task_events(store: Store, task_id: str | None = None) -> list[Event]:
    sql = "SELECT * FROM events WHERE resource_type = 'task'"
    params: list[Any] = []
    if task_id is not None:
        sql += " AND resource_id = ?"
        params.append(task_id)
    rows = await store.fetch(sql + " ORDER BY seq", params)
    return [Event.model_validate(r) for r in rows]


REPLAYED = ("state", "attempt", "worker_id", "reason", "priority", "exit_code")


async def assert_replays(store: Store, task_ids: Iterable[str] | None = None) -> list[Task]:
    """Every stored task equals its replay from the events (the audit trail is the truth)."""
    rows = await store.fetch("SELECT * FROM tasks ORDER BY created_at")
    stored = {r["id"]: Task.model_validate(r) for r in rows}
    wanted = set(task_ids) if task_ids is not None else set(stored)
    by_task: dict[str, list[Event]] = {}
    for ev in await task_events(store):
        by_task.setdefault(ev.resource_id, []).append(ev)
    for task_id in wanted:
        rebuilt = replay_task(by_task[task_id])
        for name in REPLAYED:
            assert getattr(rebuilt, name) == getattr(stored[task_id], name), (task_id, name)
    return [stored[t] for t in wanted]


async def wait_until(orch: Orchestrator, check: Any, timeout: float = 20.0) -> None:
    """Wait (on the orchestrator's change signal, bounded) until ``check()`` is true."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while not check():
        left = until - loop.time()
        if left <= 0:
            raise TimeoutError(f"condition not met within {timeout}s")
        await orch.book.wait_change(min(left, 0.1))


def state_of(orch: Orchestrator, task_id: str) -> str | None:
    task = orch.book.latest(task_id)
    return task.state.value if task is not None else None


def worker_task(worker: WorkerProc, task_id: str) -> dict[str, Any]:
    """The worker's own view of a task (``GET /task/{id}``)."""
    with worker.client() as c:
        body: dict[str, Any] = c.get(f"/task/{task_id}").json()
        return body


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
