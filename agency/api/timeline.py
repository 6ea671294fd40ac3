"""The fleet timeline: which worker ran which attempt, and when (the Workers page's Gantt)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import Role
from agency.models.timeline import DEFAULT_TIMELINE_BARS, MAX_TIMELINE_BARS, WorkerTimeline

router = APIRouter(prefix="/api/v1/workers", tags=["workers"], responses=ERROR_RESPONSES)


@router.get("/timeline", response_model=WorkerTimeline)
async def timeline(
    since: Annotated[
        datetime | None,
        Query(description="Start of the window (ISO 8601 with a zone); default `until` - 15 min."),
    ] = None,
    until: Annotated[
        datetime | None, Query(description="End of the window (ISO 8601 with a zone); default now.")
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_TIMELINE_BARS, description="Most bars answered (the newest are kept)."),
    ] = DEFAULT_TIMELINE_BARS,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> WorkerTimeline:
    """One bar per attempt that overlaps the window: worker, task, kind, command, outcome,
    dispatched and ended times (``finished_at`` null while in flight), oldest first."""
    return await plane.timeline.window(since, until, limit)
