"""Alerts: listed for everyone, acknowledged or dismissed by operators.

The orchestrator raises alerts (a breaker opened, a worker went silent, the failure rate
crossed ``AGENCY_FAILURE_RATE_ALERT``); people move them open -> acknowledged -> dismissed,
each move an event with its actor. Repeating a move is a no-op; going back is a conflict.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.models import Alert, AlertAction, AlertState, Role

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[Alert])
async def list_alerts(
    state: AlertState | None = Query(None, description="Only alerts in this state."),
    kind: str | None = Query(None, max_length=200, description="Only alerts of this kind."),
    limit: int = Query(200, ge=1, le=1000),
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[Alert]:
    """Alerts, newest first."""
    return await plane.alerts.find(state=state, kind=kind, limit=limit)


@router.post("/{alert_id}/acknowledge", response_model=Alert)
async def acknowledge_alert(
    alert_id: str,
    body: AlertAction | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Alert:
    """Mark an open alert as seen; it stays listed until dismissed."""
    return await plane.alerts.acknowledge(alert_id, who.name, body.reason if body else None)


@router.post("/{alert_id}/dismiss", response_model=Alert)
async def dismiss_alert(
    alert_id: str,
    body: AlertAction | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.OPERATOR)),
) -> Alert:
    """Close an alert (open or acknowledged)."""
    return await plane.alerts.dismiss(alert_id, who.name, body.reason if body else None)
