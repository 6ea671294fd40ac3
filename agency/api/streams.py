"""Server-Sent Events: ``/api/v1/metrics/stream`` (a KPI snapshot per second) and
``/api/v1/events/stream`` (committed events, filterable, resumable by event seq).

The events stream subscribes to the store *before* reading the table, then reads every
matching event after the resume point from the table, then follows the live feed, skipping
what it already sent (seq <= cursor) and back-filling from the table when the live feed
jumps (a lagging subscriber lost events): no gaps, no duplicates. Event ids are the seq.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from agency.api.deps import Principal, Services, get_services, require
from agency.api.handlers import ERROR_RESPONSES
from agency.errors import BadRequest
from agency.models import Event, Role
from agency.storage import events as store_events

router = APIRouter(prefix="/api/v1", tags=["streams"], responses=ERROR_RESPONSES)

RETRY_MS = 1000
PAGE = 500
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
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> EventSourceResponse:
    """``event: kpi`` with the KPI snapshot as JSON every second; ``Last-Event-ID`` replays
    the snapshots missed (the last two minutes are kept); keep-alive comments in between."""
    assert services.hub is not None and services.api_metrics is not None
    sub = services.hub.subscribe(_last_id(last_event_id, None, "snapshot id"))
    gauge = services.api_metrics.sse_clients.labels(stream="metrics")

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

    return EventSourceResponse(events(), ping=services.settings.sse_ping_interval)


def _matches(
    ev: Event,
    resource_type: str | None,
    resource_id: str | None,
    action: str | None,
    actor: str | None,
) -> bool:
    if resource_type is not None and ev.resource_type != resource_type:
        return False
    if resource_id is not None and ev.resource_id != resource_id:
        return False
    if action is not None and not (
        ev.action == action or (action.endswith(".") and ev.action.startswith(action))
    ):
        return False
    return actor is None or ev.actor == actor


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
    services: Services = Depends(get_services),
    who: Principal = Depends(require(Role.VIEWER)),
) -> EventSourceResponse:
    """Committed events as ``event: <action>``, ``id: <seq>``, data = the event as JSON.

    Without a resume point the stream starts with what happens next; with ``after`` or
    ``Last-Event-ID`` it first sends every matching event after that seq from the table.
    """
    assert services.api_metrics is not None
    rtype = None if resource_type in (None, "*") else resource_type
    resume = _last_id(last_event_id, after, "event seq")
    store = services.store
    live = store.subscribe()  # before the table read: nothing committed in between is missed
    gauge = services.api_metrics.sse_clients.labels(stream="events")

    async def from_table(after_seq: int, below: int | None) -> AsyncIterator[Event]:
        while True:
            page = await store_events.list_events(
                store,
                action=action,
                actor=actor,
                resource_type=rtype,
                resource_id=resource_id,
                after_seq=after_seq,
                limit=PAGE,
            )
            for ev in page:
                if below is not None and ev.seq >= below:
                    return
                yield ev
            if len(page) < PAGE:
                return
            after_seq = page[-1].seq

    def frame(ev: Event) -> ServerSentEvent:
        return ServerSentEvent(data=ev.model_dump_json(), event=ev.action, id=str(ev.seq))

    async def events() -> AsyncIterator[ServerSentEvent]:
        gauge.inc()
        cursor = store.last_seq if resume is None else resume
        try:
            yield ServerSentEvent(comment="stream open", retry=RETRY_MS)
            if resume is not None:
                async for ev in from_table(cursor, None):
                    cursor = max(cursor, ev.seq)
                    if _matches(ev, rtype, resource_id, action, actor):
                        yield frame(ev)
            async for ev in live:
                if ev.seq <= cursor:
                    continue
                if ev.seq > cursor + 1:  # the live buffer dropped events: take them from the table
                    async for old in from_table(cursor, ev.seq):
                        if _matches(old, rtype, resource_id, action, actor):
                            yield frame(old)
                cursor = ev.seq
                if _matches(ev, rtype, resource_id, action, actor):
                    yield frame(ev)
        finally:
            live.close()
            gauge.dec()

    return EventSourceResponse(events(), ping=services.settings.sse_ping_interval)
