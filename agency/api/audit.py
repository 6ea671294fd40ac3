"""The audit trail: events with filters and paging, chain verification, task replay, waivers."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control.tasks import replay_task
from agency.errors import InvalidCursor
from agency.models import Role, Waiver, WaiverState
from agency.schemas import (
    AuditPage,
    ChainReportOut,
    ReplayOut,
    WaiverDecisionIn,
    WaiverRequestIn,
)
from agency.storage import events as store_events
from agency.storage import misc as store_misc

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERROR_RESPONSES)

# the fields replay must reproduce; timestamps differ by design (replay does not re-run the clock)
REPLAYED_FIELDS = (
    "state",
    "attempt",
    "worker_id",
    "reason",
    "priority",
    "exit_code",
    "kind",
    "verdict",
)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "this cursor was not issued by this server", details={"cursor": cursor[:100]}
        ) from exc
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidCursor(
            "this cursor was not issued by this server", details={"cursor": cursor[:100]}
        )
    return value


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
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> AuditPage:
    """Events oldest first, filtered; follow ``next_cursor`` for the next page."""
    after = decode_cursor(cursor) if cursor else None
    items = await store_events.list_events(
        services.store,
        action=action,
        actor=actor,
        resource_type=resource_type,
        resource_id=resource_id,
        since=since,
        until=until,
        after_seq=after,
        limit=limit + 1,
    )
    more = len(items) > limit
    items = items[:limit]
    return AuditPage(items=items, next_cursor=encode_cursor(items[-1].seq) if more else None)


@router.get("/audit/verify", response_model=ChainReportOut)
async def verify(
    services: Services = Depends(get_services), who: Principal = Depends(require(Role.VIEWER))
) -> ChainReportOut:
    """Recompute the events' hash chain; ``ok`` false names the first bad sequence number."""
    report = await services.store.verify_chain()
    return ChainReportOut(
        ok=report.ok,
        checked=report.checked,
        first_bad_seq=report.first_bad_seq,
        reason=report.reason,
    )


@router.get("/tasks/{task_id}/replay", response_model=ReplayOut)
async def replay(
    task_id: Annotated[str, Path(min_length=1, max_length=128)],
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ReplayOut:
    """The task rebuilt from its events alone, beside the stored row, and where they differ."""
    stored = await services.orchestrator.get(task_id)
    rebuilt = replay_task(await store_events.task_timeline(services.store, task_id))
    differences: dict[str, dict[str, Any]] = {}
    for name in REPLAYED_FIELDS:
        a, b = getattr(rebuilt, name), getattr(stored, name)
        if a != b:
            differences[name] = {"replayed": a, "stored": b}
    return ReplayOut(task=rebuilt, stored=stored, matches=not differences, differences=differences)


@router.post("/waivers", status_code=201, response_model=Waiver)
async def request_waiver(
    body: WaiverRequestIn,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Waiver:
    """Ask to accept a task whose gates requested changes."""
    return await services.orchestrator.request_waiver(body.task_id, who.name, body.reason)


@router.post("/waivers/{waiver_id}/decide", response_model=Waiver)
async def decide_waiver(
    waiver_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: WaiverDecisionIn,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Waiver:
    """Approve (the task becomes succeeded, verdict waived) or deny a waiver; audited."""
    return await services.orchestrator.decide_waiver(waiver_id, who.name, body.approve, body.reason)


@router.get("/waivers", response_model=list[Waiver])
async def list_waivers(
    task_id: Annotated[str | None, Query(max_length=128)] = None,
    state: WaiverState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[Waiver]:
    """Waivers, newest first."""
    return await store_misc.list_waivers(services.store, task_id=task_id, state=state, limit=limit)
