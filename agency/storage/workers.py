"""``WorkerRepository``: the ``workers`` table (registrations and their last known health)."""

from __future__ import annotations

from agency.models import AgentLink, EventIn, WorkerHealth, WorkerInfo
from agency.storage.ops import Delete, Upsert
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

    # --- remote agents' task ids (ag-agent-claude) ------------------------------------------

    async def save_link(self, link: AgentLink) -> None:
        """Remember which agent task runs an attempt (one row per task: the latest attempt)."""
        await self._write(Upsert("agent_links", [link.model_dump()], key=("task_id",)))

    async def links(self) -> list[AgentLink]:
        return await self._all(AgentLink, "SELECT * FROM agent_links ORDER BY created_at")

    def drop_link_op(self, task_id: str) -> Delete:
        """The write that forgets a task's agent link (stored with the attempt's end)."""
        return Delete("agent_links", [{"task_id": task_id}])

    async def drop_links(self, task_ids: list[str]) -> None:
        if task_ids:
            await self._write(Delete("agent_links", [{"task_id": t} for t in task_ids]))
