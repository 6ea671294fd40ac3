"""Runbook runs: who ran which notebook runbook with which parameters, and what came out.

``agency runbook run`` executes a notebook on the caller's machine (papermill) and records
the outcome here; the actor is the caller's token name, never a name the record claims.
Each record is one ``runbook_runs`` row and one ``runbook.run`` event, written together.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from agency.errors import NotFound
from agency.models import EventIn, RunbookRun, new_id, utcnow
from agency.storage import RunbookRunRepository

RunStatus = Literal["succeeded", "failed"]


class RunbookRunService:
    """Records and lists runbook runs."""

    def __init__(self, repo: RunbookRunRepository) -> None:
        self.repo = repo

    async def record(
        self,
        actor: str,
        name: str,
        status: RunStatus,
        *,
        parameters: dict[str, Any],
        output_path: str | None = None,
        error: str | None = None,
        started_at: datetime | None = None,
        duration_s: float | None = None,
    ) -> RunbookRun:
        """Record a finished run; ``started_at`` defaults to now minus ``duration_s``."""
        started = started_at or utcnow() - timedelta(seconds=duration_s or 0.0)
        run = RunbookRun(
            id=new_id(),
            name=name,
            actor=actor,
            parameters=parameters,
            output_path=output_path,
            status=status,
            error=error,
            started_at=started,
            duration_s=duration_s,
        )
        await self.repo.record(
            run,
            EventIn(
                actor=actor,
                action="runbook.run",
                resource_type="runbook",
                resource_id=run.id,
                details={
                    "name": run.name,
                    "status": run.status,
                    "parameters": run.parameters,
                    "output_path": run.output_path,
                    "duration_s": run.duration_s,
                    "error": run.error,
                },
            ),
        )
        return run

    async def find(
        self,
        name: str | None = None,
        actor: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[RunbookRun]:
        """Recorded runs, newest first."""
        return await self.repo.find(name=name, actor=actor, status=status, limit=limit)

    async def get(self, run_id: str) -> RunbookRun:
        run = await self.repo.get(run_id)
        if run is None:
            raise NotFound(f"no runbook run {run_id!r}", details={"run_id": run_id})
        return run
