"""``GET /health`` (public, for probes) and ``GET /metrics`` (Prometheus exposition)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.models import KpiSample, Role, WorkerHealth, __version__, utcnow
from agency.models.api import ComponentHealth, HealthOut, WhoAmI
from agency.storage.misc import list_kpi_samples

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)

_RANK = {"healthy": 0, "degraded": 1, "unhealthy": 2}


async def _database(services: Services) -> ComponentHealth:
    try:
        await asyncio.wait_for(services.store.fetch("SELECT 1 AS ok"), timeout=2.0)
    except TimeoutError:
        return ComponentHealth(status="unhealthy", reason="database did not answer within 2 s")
    except Exception as exc:  # any failure is the answer here, not an error of /health
        return ComponentHealth(status="unhealthy", reason=f"database: {exc}")
    return ComponentHealth(status="healthy", details={"path": str(services.settings.database_path)})


def _orchestrator(services: Services) -> ComponentHealth:
    try:
        raw: dict[str, Any] = dict(services.orchestrator.health())
    except Exception as exc:
        return ComponentHealth(status="unhealthy", reason=f"orchestrator: {exc}")
    status = raw.pop("status", "healthy")
    reason = raw.pop("reason", None)
    if status not in _RANK:
        status, reason = "degraded", f"unknown orchestrator status {status!r}"
    return ComponentHealth(status=status, reason=reason, details=raw)


def _workers(services: Services) -> ComponentHealth:
    workers = [w for w in services.orchestrator.workers() if w.health is not WorkerHealth.REMOVED]
    healthy = [w for w in workers if w.health is WorkerHealth.HEALTHY and w.breaker == "closed"]
    details = {
        "registered": len(workers),
        "healthy": len(healthy),
        "capacity": sum(w.capacity for w in healthy),
    }
    if not workers:
        return ComponentHealth(
            status="degraded", reason="no worker registered: tasks wait", details=details
        )
    if not healthy:
        return ComponentHealth(
            status="degraded", reason="no healthy worker: tasks wait", details=details
        )
    if len(healthy) < len(workers):
        bad = sorted(w.id for w in workers if w not in healthy)
        return ComponentHealth(
            status="degraded",
            reason=f"unhealthy, draining or breaker open: {', '.join(bad)}",
            details=details,
        )
    return ComponentHealth(status="healthy", details=details)


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Unhealthy, or still starting."}},
)
async def health(request: Request) -> JSONResponse:
    """Overall status and each component's, with a reason for every non-healthy one."""
    services: Services | None = request.app.state.services
    if services is None:
        body = HealthOut(
            status="unhealthy",
            version=__version__,
            uptime_s=0.0,
            components={
                "orchestrator": ComponentHealth(status="unhealthy", reason="starting or stopping"),
            },
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    components = {
        "orchestrator": _orchestrator(services),
        "database": await _database(services),
        "workers": _workers(services),
    }
    status = max((c.status for c in components.values()), key=_RANK.__getitem__)
    body = HealthOut(
        status=status,
        version=__version__,
        uptime_s=(utcnow() - services.started_at).total_seconds(),
        components=components,
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
    services: Services = Depends(get_services), who: Principal = Depends(require(Role.VIEWER))
) -> Response:
    """Prometheus exposition: tasks by state, dispatch latency, retries, breakers, workers, streams."""
    return Response(generate_latest(services.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/kpis/history", response_model=list[KpiSample])
async def kpi_history(
    since: datetime | None = Query(None, description="Only samples from this time on (ISO 8601)."),
    limit: int = Query(
        1000, ge=1, le=10_000, description="At most this many, the most recent ones."
    ),
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[KpiSample]:
    """The sampled KPI history (one row every ``AGENCY_KPI_SAMPLE_INTERVAL``), oldest first."""
    return await list_kpi_samples(services.store, since=since, limit=limit)


@router.get("/api/v1/whoami", response_model=WhoAmI)
async def whoami(who: Principal = Depends(require(Role.VIEWER))) -> WhoAmI:
    """The caller's token name, role and id."""
    return WhoAmI(name=who.name, role=who.role, token_id=who.token_id)
