"""Runbook runs: recorded by ``agency runbook run`` (the actor is the token's name, never a
name the body claims), listed and shown for everyone."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import Role, RunbookRun, RunbookRunIn

router = APIRouter(prefix="/api/v1/runbooks", tags=["runbooks"], responses=ERROR_RESPONSES)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


@router.post("/runs", status_code=201, response_model=RunbookRun)
async def record_run(
    body: RunbookRunIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> RunbookRun:
    """Record a finished runbook run (any token may: the record names its token)."""
    return await plane.runbooks.record(
        who.name,
        body.name,
        body.status,
        parameters=body.parameters,
        output_path=body.output_path,
        error=body.error,
        started_at=body.started_at,
        duration_s=body.duration_s,
    )


@router.get("/runs", response_model=list[RunbookRun])
async def list_runs(
    name: str | None = Query(None, max_length=200, description="Only runs of this runbook."),
    actor: str | None = Query(None, max_length=200, description="Only runs by this token name."),
    status: Literal["succeeded", "failed", "running"] | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[RunbookRun]:
    """Recorded runbook runs, newest first."""
    return await plane.runbooks.find(name=name, actor=actor, status=status, limit=limit)


@router.get("/runs/{run_id}", response_model=RunbookRun)
async def get_run(
    run_id: str,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> RunbookRun:
    """One recorded run."""
    return await plane.runbooks.get(run_id)
