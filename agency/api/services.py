"""Opening and closing the control plane's parts in order: store, registry, orchestrator."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from agency.api.auth import RateLimiter, TokenBook
from agency.api.deps import Services
from agency.api.hub import MetricsHub
from agency.api.telemetry import ApiMetrics
from agency.control.schedules import ScheduleService
from agency.fleet import Registry
from agency.orchestrator import Orchestrator
from agency.settings import Settings
from agency.storage import Store

log = logging.getLogger("agency.api")


async def open_services(settings: Settings) -> Services:
    """Open the DuckDB store, the worker registry and the orchestrator, and start it and the scheduler."""
    store = await Store.open(settings.database_path, batch_max=settings.write_batch_max)
    metrics = CollectorRegistry()
    try:
        registry = Registry(settings)
        orchestrator = Orchestrator(settings, store, registry, metrics_registry=metrics)
        await orchestrator.start()
        schedules = ScheduleService(store, orchestrator, settings, metrics)
        try:
            await schedules.start()
        except BaseException:
            await orchestrator.stop()
            raise
    except BaseException:
        await store.close()
        raise
    return Services(
        settings=settings,
        store=store,
        registry=registry,
        orchestrator=orchestrator,
        metrics=metrics,
        schedules=schedules,
    )


async def prepare_api(services: Services) -> None:
    """Fill in the API's own parts (tokens, rate limiter, metrics) where they are missing."""
    if services.api_metrics is None:
        services.api_metrics = ApiMetrics(services.metrics)
    if services.limiter is None:
        services.limiter = RateLimiter(services.settings.rate_limit)
    if services.hub is None:
        services.hub = MetricsHub(
            services.orchestrator.kpis, interval=services.settings.sse_metrics_interval
        )
    if services.tokens is None:
        tokens = TokenBook(services.store, services.settings)
        await tokens.load()
        services.tokens = tokens


async def close_api(services: Services) -> None:
    """Stop what ``prepare_api`` started (the KPI ticker)."""
    if services.hub is not None:
        await services.hub.close()


async def close_services(services: Services) -> None:
    """Stop the orchestrator (in-flight tasks stay recoverable), then close the store."""
    try:
        if services.schedules is not None:
            await services.schedules.stop()
        await services.orchestrator.stop()
    finally:
        await services.store.close()
