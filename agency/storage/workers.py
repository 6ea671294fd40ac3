"""``WorkerRepository``: the ``workers`` table (registrations and their last known health)."""

from __future__ import annotations

from agency.models import EventIn, WorkerHealth, WorkerInfo
from agency.storage.ops import Upsert
from agency.storage.repository import Repository


class WorkerRepository(Repository):
    """Worker records; one is written whole whenever its registration or health changes."""

    async def get(self, worker_id: str) -> WorkerInfo | None:
        return await self._one(WorkerInfo, "SELECT * FROM workers WHERE id = ?", [worker_id])

    async def all(self, *, include_removed: bool = False) -> list[WorkerInfo]:
        """Workers by id; removed ones only when asked."""
        where = "" if include_removed else "WHERE health <> ?"
        params = [] if include_removed else [WorkerHealth.REMOVED.value]
        return await self._all(WorkerInfo, f"SELECT * FROM workers {where} ORDER BY id", params)

    async def save(self, info: WorkerInfo, *events: EventIn) -> None:
        """Store a worker's record with its events, in one write."""
        row = info.model_dump(mode="python")
        await self._write(Upsert("workers", [row]), *events)
