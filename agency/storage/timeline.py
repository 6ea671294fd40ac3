"""``TimelineRepository``: finished attempts in a time window, with their task's kind and spec.

The fleet timeline reads the ``attempts`` table by time. An attempt row is written when the
attempt ends, so rows arrive in about ``finished_at`` order and DuckDB's per-block min/max
(zone maps) skip every block outside the window: no index is needed. The window's rows are
cut to ``limit`` before the join, so the join probes the tasks table for those rows only.
"""

from __future__ import annotations

from datetime import datetime

from agency.models.timeline import TimelineBar, command_text
from agency.storage.repository import Repository, row_limit

_FINISHED_IN_WINDOW = """
WITH a AS (
    SELECT task_id, attempt, worker_id, state, reason, started_at, finished_at
    FROM attempts
    WHERE finished_at >= ? AND started_at < ? AND worker_id IS NOT NULL
    ORDER BY started_at DESC, task_id DESC, attempt DESC
    LIMIT ?
)
SELECT a.*, t.kind, t.spec
FROM a JOIN tasks t ON t.id = a.task_id
ORDER BY a.started_at, a.task_id, a.attempt
"""


class TimelineRepository(Repository):
    """Reads of the ``attempts`` table by time (the fleet timeline)."""

    async def finished(
        self, since: datetime, until: datetime, limit: int
    ) -> tuple[list[TimelineBar], bool]:
        """The ended attempts overlapping ``[since, until)`` (the newest ``limit``, oldest
        first) and whether more overlapped."""
        cap = row_limit(limit)
        rows = await self.store.fetch(_FINISHED_IN_WINDOW, [since, until, cap + 1])
        more = len(rows) > cap
        if more:
            rows = rows[1:]  # oldest first: the one past the limit is the oldest
        bars = [
            TimelineBar(
                worker_id=str(r["worker_id"]),
                task_id=str(r["task_id"]),
                attempt=int(r["attempt"]),
                kind=str(r["kind"]),
                command=command_text(str(r["kind"]), r["spec"]),
                state=r["state"],
                reason=r["reason"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
            )
            for r in rows
        ]
        return bars, more
