"""``RunbookRunRepository``: the ``runbook_runs`` table (who ran which notebook, and how)."""

from __future__ import annotations

from agency.models import EventIn, RunbookRun
from agency.storage.ops import Insert
from agency.storage.repository import Repository, row_limit, where


class RunbookRunRepository(Repository):
    """Recorded runbook runs; each is inserted once, with its event."""

    async def get(self, run_id: str) -> RunbookRun | None:
        return await self._one(RunbookRun, "SELECT * FROM runbook_runs WHERE id = ?", [run_id])

    async def find(
        self,
        name: str | None = None,
        actor: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunbookRun]:
        """Runs newest first (ties by id, descending), filtered by every criterion given."""
        clause, params = where(name=name, actor=actor, status=status)
        return await self._all(
            RunbookRun,
            f"SELECT * FROM runbook_runs {clause} ORDER BY started_at DESC, id DESC LIMIT ?",
            [*params, row_limit(limit)],
        )

    async def record(self, run: RunbookRun, *events: EventIn) -> None:
        """Store a finished run with its events, in one write."""
        await self._write(Insert("runbook_runs", [run.model_dump(mode="python")]), *events)
