"""The API's own Prometheus metrics, on the control plane's CollectorRegistry."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiMetrics:
    """Request counts and latencies per route, and the live SSE / WebSocket client gauges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "agency_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "agency_http_request_seconds",
            "Time to the response's first byte, by route template.",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.sse_clients = Gauge(
            "agency_sse_clients",
            "Connected Server-Sent-Events clients, by stream.",
            ["stream"],
            registry=registry,
        )
        self.ws_clients = Gauge(
            "agency_ws_clients",
            "Connected WebSocket clients, by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        for stream in ("metrics", "events"):
            self.sse_clients.labels(stream=stream)


class MetricsMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware overhead) recording every HTTP answer."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], ApiMetrics | None]) -> None:
        self.app = app
        # looked up per request: the metrics exist only once the lifespan has started
        self.get_metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.get_metrics() if scope["type"] == "http" else None
        if metrics is None:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                metrics.latency.labels(scope["method"], _route(scope)).observe(
                    time.perf_counter() - start
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.requests.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    # the template, not the raw path, so task ids do not explode the label cardinality
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
