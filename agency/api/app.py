"""``create_app(settings)``: the control plane's FastAPI application.

With ``plane=None`` the lifespan opens the ``ControlPlane`` and closes it on shutdown; a
caller that passes its own keeps ownership of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware

from agency.api import (
    agent_runs,
    alerts,
    audit,
    budgets,
    chat,
    health,
    queries,
    runbooks,
    schedules,
    streams,
    tasks,
    tokens,
    workers,
)
from agency.api import timeline as timeline_routes
from agency.api import workflows as workflow_routes
from agency.api.auth import check_exposure
from agency.api.handlers import install_error_handlers
from agency.api.limits import BodyLimitMiddleware
from agency.api.masked import MaskedHeaderMiddleware
from agency.api.telemetry import ApiMetrics, MetricsMiddleware
from agency.control import ControlPlane
from agency.models import __version__
from agency.settings import Settings

PUBLIC_PATHS = frozenset({"/health"})


def create_app(settings: Settings, plane: ControlPlane | None = None) -> FastAPI:
    """The API app; ``plane`` given means the caller owns (opens and closes) it.

    ``ConfigError`` when the settings would serve beyond loopback without auth.
    """
    check_exposure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running = await ControlPlane.open(settings) if plane is None else plane
        try:
            # on the plane's registry, so /metrics shows them beside the orchestrator's
            app.state.api_metrics = ApiMetrics(running.metrics)
            app.state.plane = running
            yield
        finally:
            app.state.plane = None
            app.state.api_metrics = None
            if plane is None:
                await running.close()

    app = FastAPI(
        title="agency control plane",
        version=__version__,
        description="Submit, watch, cancel and audit the work of a fleet of agent workers.",
        lifespan=lifespan,
    )
    app.state.plane = None
    app.state.api_metrics = None
    app.state.settings = settings
    install_error_handlers(app)

    def api_metrics() -> ApiMetrics | None:
        metrics: ApiMetrics | None = app.state.api_metrics
        return metrics

    # the last added runs first: CORS (when configured) wraps everything, metrics see every
    # answer including the size limit's 413s, and the limit runs before a handler reads a body
    app.add_middleware(MaskedHeaderMiddleware)  # around the handlers: what they masked
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )

    for module in ROUTERS:
        app.include_router(module.router)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


ROUTERS = [health, tasks, workers, audit, streams, tokens]
ROUTERS += [chat, queries, alerts]
ROUTERS += [runbooks]
ROUTERS += [agent_runs, budgets, schedules]
ROUTERS += [workflow_routes]
ROUTERS += [timeline_routes]


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the bearer-token security scheme on every non-public operation."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An agency API token (`agency token create`), or `?token=` on streams.",
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation["security"] = [] if path in PUBLIC_PATHS else [{"bearer": []}]
    app.openapi_schema = schema
    return schema
