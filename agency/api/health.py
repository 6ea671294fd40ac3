"""``GET /health`` (public, for probes) and ``GET /metrics`` (Prometheus exposition)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agency.api.deps import Principal, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.control.health import worst
from agency.models import KpiSample, Role, __version__
from agency.models.api import ComponentHealth, HealthOut, WhoAmI

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Unhealthy, or still starting."}},
)
async def health(request: Request) -> JSONResponse:
    """Overall status and each component's, with a reason for every non-healthy one."""
    plane: ControlPlane | None = request.app.state.plane
    if plane is None:
        body = HealthOut(
            status="unhealthy",
            version=__version__,
            uptime_s=0.0,
            components={
                "orchestrator": ComponentHealth(status="unhealthy", reason="starting or stopping"),
            },
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    checked = await plane.health.components()
    status = worst(checked)
    body = HealthOut(
        status=status,
        version=__version__,
        uptime_s=plane.health.uptime_s,
        components={
            name: ComponentHealth(status=c.status, reason=c.reason, details=c.details)
            for name, c in checked.items()
        },
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=503 if status == "unhealthy" else 200
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text format.",
        }
    },
)
async def metrics(
    plane: ControlPlane = Depends(get_plane), who: Principal = Depends(require(Role.VIEWER))
) -> Response:
    """Prometheus exposition: tasks by state, dispatch latency, retries, breakers, workers, streams."""
    return Response(generate_latest(plane.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/kpis/history", response_model=list[KpiSample])
async def kpi_history(
    since: datetime | None = Query(None, description="Only samples from this time on (ISO 8601)."),
    limit: int = Query(
        1000, ge=1, le=10_000, description="At most this many, the most recent ones."
    ),
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[KpiSample]:
    """The sampled KPI history (one row every ``AGENCY_KPI_SAMPLE_INTERVAL``), oldest first."""
    return await plane.tasks.kpi_history(since=since, limit=limit)


@router.get("/api/v1/whoami", response_model=WhoAmI)
async def whoami(who: Principal = Depends(require(Role.VIEWER))) -> WhoAmI:
    """The caller's token name, role and id."""
    return WhoAmI(name=who.name, role=who.role, token_id=who.token_id)
