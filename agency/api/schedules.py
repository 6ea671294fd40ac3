"""Schedules: create, list, show (with the next fire times and the last fire), edit, delete,
pause, resume, trigger, and the history of their fires."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.errors import ServiceUnavailable
from agency.models import (
    Role,
    ScheduleEdit,
    ScheduleFireOut,
    ScheduleFirePage,
    ScheduleIn,
    ScheduleList,
    ScheduleReason,
    ScheduleView,
)

if TYPE_CHECKING:
    from agency.control.schedules import ScheduleService

router = APIRouter(prefix="/api/v1", tags=["schedules"], responses=ERROR_RESPONSES)

ScheduleRef = Annotated[str, Path(min_length=1, max_length=200, description="Id or name.")]


def _schedules(services: Services) -> ScheduleService:
    if services.schedules is None:
        raise ServiceUnavailable("the scheduler is not running")
    return services.schedules


@router.post("/schedules", status_code=201, response_model=ScheduleView)
async def create(
    body: ScheduleIn,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """A new schedule; a bad cron, time zone or task template is a 422 naming the field."""
    return await _schedules(services).create(body, who.name)


@router.get("/schedules", response_model=ScheduleList)
async def list_schedules(
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ScheduleList:
    """Every schedule, by name."""
    return ScheduleList(items=await _schedules(services).all())


@router.get("/schedules/{ref}", response_model=ScheduleView)
async def show(
    ref: ScheduleRef,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ScheduleView:
    """A schedule with its next 5 fire times and its last fire (and that task's state)."""
    return await _schedules(services).get(ref)


@router.patch("/schedules/{ref}", response_model=ScheduleView)
async def edit(
    ref: ScheduleRef,
    body: ScheduleEdit,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """Change a schedule: a new revision, in force from the next slot."""
    return await _schedules(services).edit(ref, body, who.name)


@router.delete("/schedules/{ref}", status_code=204)
async def delete(
    ref: ScheduleRef,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.ADMIN)),
) -> Response:
    """Delete a schedule; its fires, revisions and tasks stay for the audit trail."""
    await _schedules(services).delete(ref, who.name)
    return Response(status_code=204)


@router.post("/schedules/{ref}/pause", response_model=ScheduleView)
async def pause(
    ref: ScheduleRef,
    body: ScheduleReason | None = None,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """Stop firing (idempotent; audited)."""
    return await _schedules(services).pause(ref, who.name, body.reason if body else None)


@router.post("/schedules/{ref}/resume", response_model=ScheduleView)
async def resume(
    ref: ScheduleRef,
    body: ScheduleReason | None = None,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleView:
    """Fire again from the next slot; the paused ones are not caught up."""
    return await _schedules(services).resume(ref, who.name, body.reason if body else None)


@router.post("/schedules/{ref}/trigger", status_code=201, response_model=ScheduleFireOut)
async def trigger(
    ref: ScheduleRef,
    body: ScheduleReason | None = None,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> ScheduleFireOut:
    """Fire once now, under the schedule's overlap policy (skipped ones say why)."""
    return await _schedules(services).trigger(ref, who.name, body.reason if body else None)


@router.get("/schedules/{ref}/fires", response_model=ScheduleFirePage)
async def fires(
    ref: ScheduleRef,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ScheduleFirePage:
    """The decided slots, newest first: fired (task id and state) or skipped (with why)."""
    return await _schedules(services).fires(ref, limit=limit, cursor=cursor)
