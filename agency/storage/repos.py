"""``Repositories``: one repository per table family over one ``Store``, and the unit of work.

This is what the control layer is given: it reads and writes through these attributes and
never through SQL or the store. A write that spans families (a task change with its waiver
row, say) gathers the families' operations and hands them to ``write`` as one atomic write.
A second backend provides an object with the same attributes and methods.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from agency.models import Event
from agency.storage.agent_runs import AgentRunRepository
from agency.storage.alerts import AlertRepository
from agency.storage.chat import ChatRepository
from agency.storage.demo import DemoRepository
from agency.storage.events import EventRepository
from agency.storage.kpis import KpiRepository
from agency.storage.ops import WriteOp
from agency.storage.queries import QueryRepository
from agency.storage.runbooks import RunbookRunRepository
from agency.storage.schedules import ScheduleRepository
from agency.storage.store import Store
from agency.storage.tasks import TaskRepository
from agency.storage.timeline import TimelineRepository
from agency.storage.tokens import TokenRepository
from agency.storage.waivers import WaiverRepository
from agency.storage.workers import WorkerRepository
from agency.storage.workflows import WorkflowRepository


class Repositories:
    """Every table family's repository, over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tasks = TaskRepository(store)
        self.events = EventRepository(store)
        self.alerts = AlertRepository(store)
        self.waivers = WaiverRepository(store)
        self.tokens = TokenRepository(store)
        self.queries = QueryRepository(store)
        self.chat = ChatRepository(store)
        self.runbooks = RunbookRunRepository(store)
        self.kpis = KpiRepository(store)
        self.workers = WorkerRepository(store)
        self.agent_runs = AgentRunRepository(store)
        self.demo = DemoRepository(store)
        self.schedules = ScheduleRepository(store)
        self.workflows = WorkflowRepository(store)
        self.timeline = TimelineRepository(store)

    @classmethod
    async def open(cls, path: Path, *, batch_max: int = 2000) -> Repositories:
        """Open (creating and migrating) the database at ``path``."""
        return cls(await Store.open(path, batch_max=batch_max))

    async def close(self) -> None:
        """Commit what is queued, then close the database."""
        await self.store.close()

    @property
    def closed(self) -> bool:
        return self.store.closed

    async def write(self, *ops: WriteOp, journal: bool = False) -> list[Event]:
        """Make ``ops`` (from any repositories) durable together; returns the events."""
        return await self.store.write(*ops, journal=journal)

    def write_nowait(self, *ops: WriteOp, journal: bool = False) -> asyncio.Future[list[Event]]:
        """Queue ``ops`` now, without yielding (they join this loop turn's group commit)."""
        return self.store.write_nowait(*ops, journal=journal)

    async def ping(self) -> None:
        """One round trip to the database (health checks)."""
        await self.store.fetch("SELECT 1 AS ok")
