"""Schedules: create, list, show (with the next fire times and the last fire), edit, delete,
pause, resume, trigger, and the history of their fires."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import (
    Role,
    ScheduleEdit,
    ScheduleFireOut,
    ScheduleFirePage,
    ScheduleIn,
    ScheduleList,
    SchedulePreview,
    SchedulePreviewIn,
    ScheduleReason,
    ScheduleView,
)

router = APIRouter(prefix="/api/v1", tags=["schedules"], responses=ERROR_RESPONSES)

ScheduleRef = Annotated[str, Path(min_length=1, max_length=200, description="Id or name.")]


@router.post("/schedules", status_code=201, response_model=ScheduleView)
async def create(
    body: ScheduleIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """A new schedule; a bad cron, time zone or task template is a 422 naming the field."""
    return await plane.schedules.create(body, who.name)


@router.post("/schedules/preview", response_model=SchedulePreview)
async def preview(
    body: SchedulePreviewIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> SchedulePreview:
    """The next fire times of a cron expression in a time zone, from now (nothing is stored);
    a bad expression or zone is a 422 naming the field."""
    return plane.schedules.preview(body)


@router.get("/schedules", response_model=ScheduleList)
async def list_schedules(
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ScheduleList:
    """Every schedule, by name."""
    return ScheduleList(items=await plane.schedules.all())


@router.get("/schedules/{ref}", response_model=ScheduleView)
async def show(
    ref: ScheduleRef,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ScheduleView:
    """A schedule with its next 5 fire times and its last fire (and that task's state)."""
    return await plane.schedules.get(ref)


@router.patch("/schedules/{ref}", response_model=ScheduleView)
async def edit(
    ref: ScheduleRef,
    body: ScheduleEdit,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """Change a schedule: a new revision, in force from the next slot."""
    return await plane.schedules.edit(ref, body, who.name)


@router.delete("/schedules/{ref}", status_code=204)
async def delete(
    ref: ScheduleRef,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.ADMIN)),
) -> Response:
    """Delete a schedule; its fires, revisions and tasks stay for the audit trail."""
    await plane.schedules.delete(ref, who.name)
    return Response(status_code=204)


@router.post("/schedules/{ref}/pause", response_model=ScheduleView)
async def pause(
    ref: ScheduleRef,
    body: ScheduleReason | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """Stop firing (idempotent; audited)."""
    return await plane.schedules.pause(ref, who.name, body.reason if body else None)


@router.post("/schedules/{ref}/resume", response_model=ScheduleView)
async def resume(
    ref: ScheduleRef,
    body: ScheduleReason | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """Fire again from the next slot; the paused ones are not caught up."""
    return await plane.schedules.resume(ref, who.name, body.reason if body else None)


@router.post("/schedules/{ref}/trigger", status_code=201, response_model=ScheduleFireOut)
async def trigger(
    ref: ScheduleRef,
    body: ScheduleReason | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleFireOut:
    """Fire once now, under the schedule's overlap policy (skipped ones say why)."""
    return await plane.schedules.trigger(ref, who.name, body.reason if body else None)


@router.get("/schedules/{ref}/fires", response_model=ScheduleFirePage)
async def fires(
    ref: ScheduleRef,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ScheduleFirePage:
    """The decided slots, newest first: fired (task id and state) or skipped (with why)."""
    return await plane.schedules.fires(ref, limit=limit, cursor=cursor)
