"""``DemoRepository``: the rows ``agency up --demo`` seeded, found by their markers and deleted.

The demo spans table families (tasks with their attempts and output, an alert, a saved query
with its revisions and runs, a chat session with its messages, KPI samples), so finding and
deleting it is one repository of its own. Events are never deleted: the audit trail is a hash
chain, and the removal itself is recorded as one more event in the same write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agency.models import EventIn
from agency.storage.ops import Delete, WriteOp
from agency.storage.repository import Repository

#: the label every demo task carries (``demo=true``)
DEMO_LABEL = "demo"
#: how demo saved queries and chat sessions are named or titled
DEMO_PREFIX = "demo: "
#: the kind of the demo alert
DEMO_ALERT_KIND = "demo"

#: the demo's saved query (user SQL, run through the read-only path like any saved query)
DEMO_QUERY_SQL = "SELECT state, count(*) AS tasks FROM tasks GROUP BY state ORDER BY tasks DESC"

#: tables keyed by ``task_id`` that hold a demo task's rows besides ``tasks``
_TASK_TABLES = (
    "attempts",
    "task_output",
    "waivers",
    "agent_runs",
    "transcript_items",
    "task_changes",
)


@dataclass(frozen=True)
class DemoRows:
    """The keys of the demo rows still in the database."""

    tasks: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    kpi_samples: list[datetime] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many of each, for the removal's event and the CLI's summary."""
        return {
            "tasks": len(self.tasks),
            "alerts": len(self.alerts),
            "queries": len(self.queries),
            "chat_sessions": len(self.sessions),
            "kpi_samples": len(self.kpi_samples),
        }

    def __bool__(self) -> bool:
        return any(self.counts().values())


class DemoRepository(Repository):
    """Finds the demo rows by their markers; deletes them with the removal's event."""

    async def find(self, kpi_ranges: list[tuple[datetime, datetime]]) -> DemoRows:
        """The demo rows; KPI samples have no marker column, so ``kpi_ranges`` (from the
        ``demo.seeded`` events) say which backfilled samples were the demo's."""
        like = DEMO_PREFIX + "%"  # the prefix holds no LIKE wildcard
        tasks = await self.store.fetch(
            "SELECT id FROM tasks WHERE json_extract_string(labels, ?) = 'true' ORDER BY id",
            [f"$.{DEMO_LABEL}"],
        )
        alerts = await self.store.fetch(
            "SELECT id FROM alerts WHERE kind = ? ORDER BY id", [DEMO_ALERT_KIND]
        )
        queries = await self.store.fetch(
            "SELECT id FROM saved_queries WHERE name LIKE ? ORDER BY id", [like]
        )
        sessions = await self.store.fetch(
            "SELECT id FROM chat_sessions WHERE title LIKE ? ORDER BY id", [like]
        )
        samples: list[datetime] = []
        for start, end in kpi_ranges:
            rows = await self.store.fetch(
                "SELECT ts FROM kpi_samples WHERE ts >= ? AND ts <= ? ORDER BY ts", [start, end]
            )
            samples += [r["ts"] for r in rows]
        return DemoRows(
            tasks=[r["id"] for r in tasks],
            alerts=[r["id"] for r in alerts],
            queries=[r["id"] for r in queries],
            sessions=[r["id"] for r in sessions],
            kpi_samples=sorted(set(samples)),
        )

    async def remove(self, rows: DemoRows, event: EventIn) -> None:
        """Delete ``rows`` from every product table and append ``event``, in one write."""
        ops: list[WriteOp] = []
        by_task = [{"task_id": t} for t in rows.tasks]
        if by_task:
            ops += [Delete(table, by_task) for table in _TASK_TABLES]
            ops.append(Delete("tasks", [{"id": t} for t in rows.tasks]))
        if rows.alerts:
            ops.append(Delete("alerts", [{"id": a} for a in rows.alerts]))
        if rows.queries:
            ops.append(Delete("query_runs", [{"query_id": q} for q in rows.queries]))
            ops.append(Delete("saved_query_revisions", [{"query_id": q} for q in rows.queries]))
            ops.append(Delete("saved_queries", [{"id": q} for q in rows.queries]))
        if rows.sessions:
            ops.append(Delete("chat_messages", [{"session_id": s} for s in rows.sessions]))
            ops.append(Delete("chat_sessions", [{"id": s} for s in rows.sessions]))
        if rows.kpi_samples:
            ops.append(Delete("kpi_samples", [{"ts": ts} for ts in rows.kpi_samples]))
        await self._write(*ops, event)
