"""Alerts: listed for everyone, acknowledged or dismissed by operators.

The orchestrator raises alerts (a breaker opened, a worker went silent, the failure rate
crossed ``AGENCY_FAILURE_RATE_ALERT``); people move them open -> acknowledged -> dismissed,
each move an event with its actor. Repeating a move is a no-op; going back is a conflict.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.errors import Conflict, NotFound
from agency.models import Alert, AlertAction, AlertState, EventIn, Role, utcnow
from agency.storage import Upsert

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)

# the states each move may start from: dismissing works from open too
ALLOWED_FROM: dict[AlertState, frozenset[AlertState]] = {
    AlertState.ACKNOWLEDGED: frozenset({AlertState.OPEN}),
    AlertState.DISMISSED: frozenset({AlertState.OPEN, AlertState.ACKNOWLEDGED}),
}


def _lock(request: Request) -> asyncio.Lock:
    # read-check-write of one alert row must not interleave with another move of it
    lock: asyncio.Lock | None = getattr(request.app.state, "alert_lock", None)
    if lock is None:
        lock = request.app.state.alert_lock = asyncio.Lock()
    return lock


async def get_alert(services: Services, alert_id: str) -> Alert:
    rows = await services.store.fetch("SELECT * FROM alerts WHERE id = $id", {"id": alert_id})
    if not rows:
        raise NotFound(f"no alert {alert_id!r}", details={"alert_id": alert_id})
    return Alert.model_validate(rows[0])


@router.get("", response_model=list[Alert])
async def list_alerts(
    state: AlertState | None = Query(None, description="Only alerts in this state."),
    kind: str | None = Query(None, max_length=200, description="Only alerts of this kind."),
    limit: int = Query(200, ge=1, le=1000),
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[Alert]:
    """Alerts, newest first."""
    rows = await services.store.fetch(
        "SELECT * FROM alerts WHERE ($state IS NULL OR state = $state) AND ($kind IS NULL OR kind = $kind)"
        " ORDER BY created_at DESC, id DESC LIMIT $limit",
        {"state": state.value if state else None, "kind": kind, "limit": limit},
    )
    return [Alert.model_validate(r) for r in rows]


async def _move(
    request: Request,
    services: Services,
    who: Principal,
    alert_id: str,
    to: AlertState,
    reason: str | None,
) -> Alert:
    async with _lock(request):
        alert = await get_alert(services, alert_id)
        if alert.state is to:
            return alert
        if alert.state not in ALLOWED_FROM[to]:
            raise Conflict(
                f"alert {alert_id} is {alert.state.value}; it cannot become {to.value}",
                details={"alert_id": alert_id, "state": alert.state.value},
            )
        moved = alert.model_copy(
            update={"state": to, "updated_at": utcnow(), "updated_by": who.name}
        )
        await services.store.write(
            Upsert("alerts", [moved.model_dump(mode="python")]),
            EventIn(
                actor=who.name,
                action=f"alert.{to.value}",
                resource_type="alert",
                resource_id=alert_id,
                details={"kind": alert.kind, "from": alert.state.value, "reason": reason},
            ),
        )
    return moved


@router.post("/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge_alert(
    alert_id: str,
    request: Request,
    body: AlertAction | None = None,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Alert:
    """Mark an open alert as seen; it stays listed until dismissed."""
    return await _move(
        request, services, who, alert_id, AlertState.ACKNOWLEDGED, body.reason if body else None
    )


@router.post("/{alert_id}/dismiss", response_model=Alert)
async def dismiss_alert(
    alert_id: str,
    request: Request,
    body: AlertAction | None = None,
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Alert:
    """Close an alert (open or acknowledged)."""
    return await _move(
        request, services, who, alert_id, AlertState.DISMISSED, body.reason if body else None
    )
