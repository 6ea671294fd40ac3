"""The audit trail: events with filters and paging, chain verification, task replay, waivers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.control.audit import EventFilter
from agency.models import Role, Waiver, WaiverState
from agency.models.api import (
    AuditPage,
    ChainReportOut,
    ReplayOut,
    WaiverDecisionIn,
    WaiverRequestIn,
)

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERROR_RESPONSES)


@router.get("/audit", response_model=AuditPage)
async def audit(
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    resource_type: Annotated[str | None, Query(max_length=100)] = None,
    resource_id: Annotated[str | None, Query(max_length=200)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    order: Annotated[
        Literal["asc", "desc"],
        Query(description="`asc` oldest first (default), `desc` newest first."),
    ] = "asc",
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> AuditPage:
    """Events oldest first (``order=desc``: newest first), filtered; follow ``next_cursor``
    (with the same ``order``) for the next page."""
    f = EventFilter(
        action=action, actor=actor, resource_type=resource_type, resource_id=resource_id
    )
    items, next_cursor = await plane.audit.page(
        f, since=since, until=until, limit=limit, cursor=cursor, descending=order == "desc"
    )
    return AuditPage(items=items, next_cursor=next_cursor)


@router.get("/audit/verify", response_model=ChainReportOut)
async def verify(
    plane: ControlPlane = Depends(get_plane), who: Principal = Depends(require(Role.VIEWER))
) -> ChainReportOut:
    """Recompute the events' hash chain and compare it with the signed checkpoints; ``ok``
    false names the first bad sequence number (and the range a checkpoint proves)."""
    chain, cps = await plane.audit.verify_with_checkpoints()
    bad = chain if not chain.ok else cps
    return ChainReportOut(
        ok=chain.ok and cps.ok,
        checked=chain.checked,
        first_bad_seq=bad.first_bad_seq,
        reason=bad.reason,
        checkpoints_checked=cps.checked,
        missing=cps.missing,
        rewritten=cps.rewritten,
    )


@router.get("/tasks/{task_id}/replay", response_model=ReplayOut)
async def replay(
    task_id: Annotated[str, Path(min_length=1, max_length=128)],
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ReplayOut:
    """The task rebuilt from its events alone, beside the stored row, and where they differ."""
    r = await plane.audit.replay(task_id)
    return ReplayOut(
        task=r.task, stored=r.stored, matches=not r.differences, differences=r.differences
    )


@router.post("/waivers", status_code=201, response_model=Waiver)
async def request_waiver(
    body: WaiverRequestIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Waiver:
    """Ask to accept a task whose gates requested changes."""
    return await plane.waivers.request(body.task_id, who.name, body.reason)


@router.post("/waivers/{waiver_id}/decide", response_model=Waiver)
async def decide_waiver(
    waiver_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: WaiverDecisionIn,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Waiver:
    """Approve (the task becomes succeeded, verdict waived) or deny a waiver; audited."""
    return await plane.waivers.decide(waiver_id, who.name, body.approve, body.reason)


@router.get("/waivers", response_model=list[Waiver])
async def list_waivers(
    task_id: Annotated[str | None, Query(max_length=128)] = None,
    state: WaiverState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[Waiver]:
    """Waivers, newest first."""
    return await plane.waivers.find(task_id=task_id, state=state, limit=limit)
