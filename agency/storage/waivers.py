"""``WaiverRepository``: the ``waivers`` table (requests to accept a rejected task)."""

from __future__ import annotations

from agency.models import EventIn, Waiver, WaiverState
from agency.storage.ops import Upsert, WriteOp
from agency.storage.repository import Repository, row_limit, where


class WaiverRepository(Repository):
    """Waivers by id, by task or filtered; written as whole-row upserts."""

    async def get(self, waiver_id: str) -> Waiver | None:
        return await self._one(Waiver, "SELECT * FROM waivers WHERE id = ?", [waiver_id])

    async def for_task(self, task_id: str) -> list[Waiver]:
        """Every waiver of one task (what the governance rules weigh a new request against)."""
        return await self._all(Waiver, "SELECT * FROM waivers WHERE task_id = ?", [task_id])

    async def find(
        self,
        task_id: str | None = None,
        state: WaiverState | str | None = None,
        limit: int = 200,
    ) -> list[Waiver]:
        """Waivers newest first, optionally of one task and in one state."""
        clause, params = where(task_id=task_id, state=state)
        return await self._all(
            Waiver,
            f"SELECT * FROM waivers {clause} ORDER BY created_at DESC, id LIMIT ?",
            [*params, row_limit(limit)],
        )

    @staticmethod
    def save_op(waiver: Waiver) -> WriteOp:
        """The operation that stores ``waiver``, for a write that carries more (a task change)."""
        return Upsert("waivers", [waiver.model_dump(mode="python")])

    async def save(self, waiver: Waiver, *events: EventIn) -> None:
        """Store ``waiver`` with its events, in one write."""
        await self._write(self.save_op(waiver), *events)
