"""Server-Sent Events: ``/api/v1/metrics/stream`` (a KPI snapshot per second) and
``/api/v1/events/stream`` (committed events, filterable, resumable by event seq).

The events come from the audit service's feed (``agency.control.audit``): no gaps, no
duplicates. Event ids are the seq.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from agency.api.deps import Principal, api_metrics_of, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.api.sse_frames import FRAMES
from agency.api.telemetry import ApiMetrics
from agency.control import ControlPlane
from agency.control.audit import EventFilter
from agency.errors import BadRequest
from agency.models import Role

router = APIRouter(prefix="/api/v1", tags=["streams"], responses=ERROR_RESPONSES)

RETRY_MS = 1000
_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "An endless `text/event-stream`.",
    }
}


def _last_id(header: str | None, query: int | None, name: str) -> int | None:
    if query is not None:
        return query
    if header is None or header.strip() == "":
        return None
    try:
        value = int(header.strip())
    except ValueError:
        raise BadRequest(
            f"Last-Event-ID must be an integer {name}", details={"last_event_id": header[:100]}
        ) from None
    if value < 0:
        raise BadRequest(
            "Last-Event-ID must not be negative", details={"last_event_id": header[:100]}
        )
    return value


@router.get("/metrics/stream", response_class=EventSourceResponse, responses=_SSE_DOC)
async def metrics_stream(
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    plane: ControlPlane = Depends(get_plane),
    metrics: ApiMetrics = Depends(api_metrics_of),
    who: Principal = Depends(require(Role.VIEWER)),
) -> EventSourceResponse:
    """``event: kpi`` with the KPI snapshot as JSON every second; ``Last-Event-ID`` replays
    the snapshots missed (the last two minutes are kept); keep-alive comments in between."""
    sub = plane.hub.subscribe(_last_id(last_event_id, None, "snapshot id"))
    gauge = metrics.sse_clients.labels(stream="metrics")

    async def events() -> AsyncIterator[ServerSentEvent]:
        gauge.inc()
        try:
            first = True
            while True:
                ident, data = await sub.next()
                yield ServerSentEvent(
                    data=data, event="kpi", id=str(ident), retry=RETRY_MS if first else None
                )
                first = False
        finally:
            sub.close()
            gauge.dec()

    return EventSourceResponse(events(), ping=plane.settings.sse_ping_interval)


@router.get("/events/stream", response_class=EventSourceResponse, responses=_SSE_DOC)
async def events_stream(
    resource_type: Annotated[
        str | None, Query(max_length=100, description="Default `task`; `*` for every event.")
    ] = "task",
    resource_id: Annotated[
        str | None, Query(max_length=200, description="One task id, for instance.")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=100, description="Exact action, or a prefix ending in `.` (`task.`)."),
    ] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Resume after this event seq (like Last-Event-ID).")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    plane: ControlPlane = Depends(get_plane),
    metrics: ApiMetrics = Depends(api_metrics_of),
    who: Principal = Depends(require(Role.VIEWER, scoped=True)),
) -> EventSourceResponse:
    """Committed events as ``event: <action>``, ``id: <seq>``, data = the event as JSON.

    Without a resume point the stream starts with what happens next; with ``after`` or
    ``Last-Event-ID`` it first sends every matching event after that seq from the table.
    A task token follows one task of its subtree only (``resource_id`` given).
    """
    if who.scope is not None:
        await plane.lineage.require_stream(who.scope, resource_type, resource_id)
    f = EventFilter(
        action=action,
        actor=actor,
        resource_type=None if resource_type in (None, "*") else resource_type,
        resource_id=resource_id,
    )
    resume = _last_id(last_event_id, after, "event seq")
    gauge = metrics.sse_clients.labels(stream="events")

    async def events() -> AsyncIterator[ServerSentEvent | bytes]:
        gauge.inc()
        feed = plane.audit.follow(f, resume)
        try:
            yield ServerSentEvent(comment="stream open", retry=RETRY_MS)
            # the events at hand go out in one write; each frame is encoded once for every
            # client (sse_frames)
            async for batch in feed.batches():
                yield b"".join(FRAMES.frame(ev) for ev in batch)
        finally:
            feed.close()
            gauge.dec()

    return EventSourceResponse(events(), ping=plane.settings.sse_ping_interval)
