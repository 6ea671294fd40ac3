"""``FleetTimeline``: which worker ran which attempt, and when, over a time window.

Ended attempts come from the attempts table (``TimelineRepository``); attempts still in
flight come from the orchestrator's memory of live tasks, so a bar appears the moment a task
is dispatched and costs no read of the tasks table. The window is bounded by ``limit``
(newest kept), so an answer stays small whatever the table holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agency.control.tasks import Orchestrator
from agency.errors import ValidationFailed
from agency.models import utcnow
from agency.models.timeline import (
    DEFAULT_TIMELINE_BARS,
    MAX_TIMELINE_BARS,
    TimelineBar,
    WorkerTimeline,
    command_text,
)
from agency.storage.timeline import TimelineRepository

#: the window when the caller names no start: the last fifteen minutes
DEFAULT_WINDOW = timedelta(minutes=15)


class FleetTimeline:
    """Builds ``WorkerTimeline`` answers from stored attempts and live tasks."""

    def __init__(self, repo: TimelineRepository, tasks: Orchestrator) -> None:
        self.repo = repo
        self.tasks = tasks

    async def window(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_TIMELINE_BARS,
    ) -> WorkerTimeline:
        """The bars overlapping ``[since, until)``; ``until`` defaults to now and ``since``
        to fifteen minutes before ``until``. Raises ``ValidationFailed`` naming the field."""
        if not 1 <= limit <= MAX_TIMELINE_BARS:
            raise ValidationFailed(
                f"limit: must be between 1 and {MAX_TIMELINE_BARS}",
                details={"field": "limit", "value": limit},
            )
        end = _aware(until, "until") if until is not None else utcnow()
        start = _aware(since, "since") if since is not None else end - DEFAULT_WINDOW
        if start >= end:
            raise ValidationFailed(
                "since: must be before until",
                details={"field": "since", "since": start.isoformat(), "until": end.isoformat()},
            )
        live = self._in_flight(end)
        done, more = await self.repo.finished(start, end, limit)
        ended = {(b.task_id, b.attempt) for b in done}
        # an attempt that ended between the two reads shows once, as ended
        bars = done + [b for b in live if (b.task_id, b.attempt) not in ended]
        bars.sort(key=lambda b: (b.started_at, b.task_id, b.attempt))
        if len(bars) > limit:
            bars, more = bars[-limit:], True
        return WorkerTimeline(since=start, until=end, items=bars, truncated=more)

    def _in_flight(self, until: datetime) -> list[TimelineBar]:
        """Attempts in flight dispatched before ``until`` (they have not ended, so they
        overlap any window that starts before now)."""
        bars = []
        book = self.tasks.book
        # the in-flight index, not every live task: a backlog of pending tasks costs nothing
        for task_id in list(book.flying):
            task = book.tasks.get(task_id)
            started = task.dispatched_at if task is not None else None
            if task is None or not task.state.in_flight or task.worker_id is None:
                continue
            if started is None or started >= until:
                continue
            bars.append(
                TimelineBar(
                    worker_id=task.worker_id,
                    task_id=task.id,
                    attempt=task.attempt,
                    kind=task.kind,
                    command=command_text(task.kind, task.spec),
                    state=task.state,
                    reason=task.reason,
                    started_at=started,
                    finished_at=None,
                )
            )
        return bars


def _aware(value: datetime, field: str) -> datetime:
    """A time with a zone; a naive one is refused (it would silently mean the server's zone)."""
    if value.tzinfo is None:
        raise ValidationFailed(
            f"{field}: must carry a time zone (…Z or +00:00)",
            details={"field": field, "value": value.isoformat()},
        )
    return value
