"""Runbook runs: recorded by ``agency runbook run`` (the actor is the token's name, never a
name the body claims), listed and shown for everyone."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import Role, RunbookRun

router = APIRouter(prefix="/api/v1/runbooks", tags=["runbooks"], responses=ERROR_RESPONSES)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class RunbookRunIn(BaseModel):
    """The outcome of one runbook execution, as the runner saw it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=NAME_PATTERN,
        description="Runbook name (the notebook's file name without `.ipynb`), as asked for.",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters as given (secrets left out)."
    )
    output_path: str | None = Field(
        None, max_length=4096, description="The executed notebook, on the runner's machine."
    )
    status: Literal["succeeded", "failed"]
    error: str | None = Field(None, max_length=20_000)
    started_at: datetime | None = Field(None, description="Default: now minus `duration_s`.")
    duration_s: float | None = Field(None, ge=0)


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
