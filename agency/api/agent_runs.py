"""Agent runs: a task's transcript (whole, or live over SSE, resumable) and what its latest
attempt changed in its workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query
from sse_starlette import EventSourceResponse, ServerSentEvent

from agency.api.deps import Principal, api_metrics_of, get_plane, require
from agency.api.handlers import ERROR_RESPONSES
from agency.api.telemetry import ApiMetrics
from agency.control import ControlPlane
from agency.errors import BadRequest
from agency.models import Role
from agency.models.runs import ChangesOut, TranscriptOut

router = APIRouter(prefix="/api/v1", tags=["agent runs"], responses=ERROR_RESPONSES)

TaskId = Annotated[str, Path(min_length=1, max_length=128, description="Task id.")]
Position = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=r"^\d+:\d+$",
        description="`attempt:seq` of the last item seen; only later items are sent.",
    ),
]
_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "`event: item` per transcript item (id `attempt:seq`), then `event: end`.",
    }
}


def position(text: str | None) -> tuple[int, int]:
    """``"attempt:seq"`` (an SSE id) as a pair; none means from the start."""
    if text is None or not text.strip():
        return (0, 0)
    attempt, sep, seq = text.strip().partition(":")
    if not sep or not attempt.isdigit() or not seq.isdigit():
        raise BadRequest("a transcript position is attempt:seq", details={"after": text[:40]})
    return (int(attempt), int(seq))


@router.get("/tasks/{task_id}/transcript", response_model=TranscriptOut)
async def transcript(
    task_id: TaskId,
    after: Position = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> TranscriptOut:
    """Every stored transcript item of every attempt, in order (types: system, assistant,
    tool_use, tool_result, result, error); a running task's so far."""
    items = await plane.tasks.transcript(task_id, position(after), limit)
    return TranscriptOut(items=items)


@router.get(
    "/tasks/{task_id}/transcript/stream", response_class=EventSourceResponse, responses=_SSE_DOC
)
async def transcript_stream(
    task_id: TaskId,
    after: Position = None,
    last_event_id: Annotated[str | None, Header(max_length=40)] = None,
    plane: ControlPlane = Depends(get_plane),
    metrics: ApiMetrics = Depends(api_metrics_of),
    who: Principal = Depends(require(Role.VIEWER)),
) -> EventSourceResponse:
    """The transcript live: stored items first, then each new one as it lands, and
    ``event: end`` once the task has ended. ``after`` or ``Last-Event-ID`` resumes."""
    start = position(after if after is not None else last_event_id)
    await plane.tasks.get(task_id)  # a 404 before the stream opens
    gauge = metrics.sse_clients.labels(stream="transcript")

    async def events() -> AsyncIterator[ServerSentEvent]:
        gauge.inc()
        try:
            async for item in plane.tasks.follow_transcript(task_id, start):
                yield ServerSentEvent(
                    data=item.model_dump_json(), event="item", id=f"{item.attempt}:{item.seq}"
                )
            yield ServerSentEvent(data="{}", event="end")
        finally:
            gauge.dec()

    return EventSourceResponse(events(), ping=plane.settings.sse_ping_interval)


@router.get("/tasks/{task_id}/changes", response_model=ChangesOut)
async def changes(
    task_id: TaskId,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ChangesOut:
    """Files the latest agent attempt added, modified or deleted, and its unified diff, cut
    at ``cap_bytes`` (``truncated`` says so); empty until an attempt has ended."""
    return await plane.tasks.changes(task_id)
