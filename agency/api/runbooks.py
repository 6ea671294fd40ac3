"""Runbook runs: who ran which notebook runbook with which parameters, and what came out.

``agency runbook run`` executes a notebook on the caller's machine (papermill) and records
the outcome here; the actor is the token's name, never a name the body claims. Each record is
one ``runbook_runs`` row and one ``runbook.run`` event in the audit chain, written together.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Query

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.errors import NotFound
from agency.models import EventIn, Role, RunbookRun, RunbookRunIn, new_id, utcnow
from agency.storage import Insert

router = APIRouter(prefix="/api/v1/runbooks", tags=["runbooks"], responses=ERROR_RESPONSES)


@router.post("/runs", status_code=201, response_model=RunbookRun)
async def record_run(
    body: RunbookRunIn,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> RunbookRun:
    """Record a finished runbook run (any token may: the record names its token)."""
    started = body.started_at or utcnow() - timedelta(seconds=body.duration_s or 0.0)
    run = RunbookRun(
        id=new_id(),
        name=body.name,
        actor=who.name,
        parameters=body.parameters,
        output_path=body.output_path,
        status=body.status,
        error=body.error,
        started_at=started,
        duration_s=body.duration_s,
    )
    await services.store.write(
        Insert("runbook_runs", [run.model_dump(mode="python")]),
        EventIn(
            actor=who.name,
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


@router.get("/runs", response_model=list[RunbookRun])
async def list_runs(
    name: str | None = Query(None, max_length=200, description="Only runs of this runbook."),
    actor: str | None = Query(None, max_length=200, description="Only runs by this token name."),
    status: Literal["succeeded", "failed", "running"] | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[RunbookRun]:
    """Recorded runbook runs, newest first."""
    rows = await services.store.fetch(
        "SELECT * FROM runbook_runs WHERE ($name IS NULL OR name = $name)"
        " AND ($actor IS NULL OR actor = $actor) AND ($status IS NULL OR status = $status)"
        " ORDER BY started_at DESC, id DESC LIMIT $limit",
        {"name": name, "actor": actor, "status": status, "limit": limit},
    )
    return [RunbookRun.model_validate(r) for r in rows]


@router.get("/runs/{run_id}", response_model=RunbookRun)
async def get_run(
    run_id: str,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> RunbookRun:
    """One recorded run."""
    rows = await services.store.fetch("SELECT * FROM runbook_runs WHERE id = $id", {"id": run_id})
    if not rows:
        raise NotFound(f"no runbook run {run_id!r}", details={"run_id": run_id})
    return RunbookRun.model_validate(rows[0])
