"""``TimelineRepository``: finished attempts in a time window, with their task's kind and spec.

The fleet timeline reads the ``attempts`` table by time. An attempt row is written when the
attempt ends, so rows arrive in about ``finished_at`` order and DuckDB's per-block min/max
(zone maps) skip every block outside the window: no index is needed. The window's rows are
cut to ``limit`` first; their tasks' kind and spec are then looked up by id in short lists,
which the primary key's index answers, so a read costs what it returns, not the table's size
(a join would scan every task: 80 ms at a million).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agency.models.timeline import TimelineBar, command_text
from agency.storage.repository import Repository, row_limit

_FINISHED_IN_WINDOW = """
SELECT task_id, attempt, worker_id, state, reason, started_at, finished_at
FROM attempts
WHERE finished_at >= ? AND started_at < ? AND worker_id IS NOT NULL
ORDER BY started_at DESC, task_id DESC, attempt DESC
LIMIT ?
"""
#: ids per lookup of the tasks' kind and spec: short IN lists are answered from the primary
#: key's index; a join (or a long list) scans the whole tasks table instead
LOOKUP_CHUNK = 200


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
        rows = rows[:cap][::-1]
        specs = await self._kinds_and_specs(list(dict.fromkeys(str(r["task_id"]) for r in rows)))
        bars = []
        for r in rows:
            kind, spec = specs.get(str(r["task_id"]), ("", {}))
            bars.append(
                TimelineBar(
                    worker_id=str(r["worker_id"]),
                    task_id=str(r["task_id"]),
                    attempt=int(r["attempt"]),
                    kind=kind,
                    command=command_text(kind, spec),
                    state=r["state"],
                    reason=r["reason"],
                    started_at=r["started_at"],
                    finished_at=r["finished_at"],
                )
            )
        return bars, more

    async def _kinds_and_specs(self, ids: list[str]) -> dict[str, tuple[str, Any]]:
        found: dict[str, tuple[str, Any]] = {}
        for i in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[i : i + LOOKUP_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for r in await self.store.fetch(
                f"SELECT id, kind, spec FROM tasks WHERE id IN ({marks})", chunk
            ):
                found[str(r["id"])] = (str(r["kind"]), r["spec"])
        return found
