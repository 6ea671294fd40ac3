"""``ScheduleRepository``: the ``schedules``, ``schedule_revisions`` and ``schedule_fires`` tables.

A fire row is recorded by a DuckDB write (not journaled): it must be committed before its
task is submitted, and a second decision of the same slot must fail on the primary key; its
confirmation is journaled (see ``settle``). A schedule's
own rows (created, edited, paused, deleted) cannot conflict (its revisions are numbered by
the one service that writes them), so they are journaled: durable in a fraction of a
millisecond instead of a DuckDB commit each.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from agency.errors import InvalidCursor
from agency.models import (
    TERMINAL_STATES,
    EventIn,
    Schedule,
    ScheduleFire,
    ScheduleFireOut,
    ScheduleFirePage,
    ScheduleRevision,
)
from agency.storage.ops import Delete, Insert, Upsert, WriteOp
from agency.storage.repository import Repository, row_limit

MAX_LIMIT = 500
#: unfinished runs of one schedule loaded at start (what overlap checks look at)
LIVE_MAX = 100
_TERMINAL = sorted(s.value for s in TERMINAL_STATES)
#: a fire and what its task is doing
_TASK_COLUMNS = "t.state AS state, coalesce(t.waiting_for, CAST('[]' AS JSON)) AS waiting_for"
_WITH_STATE = (
    f"SELECT f.*, {_TASK_COLUMNS} FROM schedule_fires AS f LEFT JOIN tasks AS t ON t.id = f.task_id"
)


class ScheduleRepository(Repository):
    """Schedules, their revisions and their fires over one ``Store``."""

    # --- schedules ------------------------------------------------------------------------

    async def all(self) -> list[Schedule]:
        return await self._all(Schedule, "SELECT * FROM schedules ORDER BY name, id")

    async def save(
        self, schedule: Schedule, *events: EventIn, revision: ScheduleRevision | None = None
    ) -> None:
        """Replace the schedule's row (with a new revision's row, if given) and its events."""
        ops: list[WriteOp] = [Upsert("schedules", [schedule.model_dump(mode="python")])]
        if revision is not None:
            ops.append(Insert("schedule_revisions", [revision.model_dump(mode="python")]))
        await self._write(*ops, *events, journal=True)

    async def delete(self, schedule: Schedule, *events: EventIn) -> None:
        """Remove the schedule; its revisions and fires stay for the audit trail."""
        await self._write(Delete("schedules", [{"id": schedule.id}]), *events, journal=True)

    async def revisions(self, schedule_id: str) -> list[ScheduleRevision]:
        return await self._all(
            ScheduleRevision,
            "SELECT * FROM schedule_revisions WHERE schedule_id = ? ORDER BY revision",
            [schedule_id],
        )

    # --- fires ----------------------------------------------------------------------------

    async def record(self, fires: list[ScheduleFire], *events: EventIn) -> None:
        """Insert newly decided slots: ``Conflict`` if one was decided already."""
        if fires or events:
            rows = [f.model_dump(mode="python") for f in fires]
            await self._write(*([Insert("schedule_fires", rows)] if rows else []), *events)

    async def settle(self, fires: list[ScheduleFire], *events: EventIn) -> None:
        """Replace recorded fires (their tasks confirmed, or their submission refused).

        Journaled: the row exists (``record`` committed it), so this cannot conflict; if it
        is lost in a crash the fire is still pending and is confirmed again on restart.
        """
        rows = [f.model_dump(mode="python") for f in fires]
        await self._write(
            Upsert("schedule_fires", rows, ("schedule_id", "slot", "manual")), *events, journal=True
        )

    async def cursors(self) -> dict[str, datetime]:
        """The latest decided cron slot of each schedule (manual fires do not count)."""
        rows = await self.store.fetch(
            "SELECT schedule_id, max(slot) AS slot FROM schedule_fires WHERE NOT manual "
            "GROUP BY schedule_id"
        )
        return {r["schedule_id"]: r["slot"] for r in rows}

    async def pending(self) -> list[ScheduleFire]:
        """Fires recorded whose task was never confirmed (the process stopped in between)."""
        return await self._all(
            ScheduleFire,
            "SELECT * FROM schedule_fires WHERE task_id IS NULL AND skipped_reason IS NULL "
            "ORDER BY slot",
        )

    async def live_runs(self) -> dict[str, list[str]]:
        """Per schedule, the ids of its fired tasks that are not final, oldest first."""
        marks = ", ".join("?" for _ in _TERMINAL)
        rows = await self.store.fetch(
            "SELECT schedule_id, task_id FROM ("
            "  SELECT f.schedule_id, f.task_id, f.fired_at, row_number() OVER ("
            "    PARTITION BY f.schedule_id ORDER BY f.fired_at DESC, f.slot DESC) AS n"
            "  FROM schedule_fires AS f JOIN tasks AS t ON t.id = f.task_id"
            f"  WHERE t.state NOT IN ({marks})"
            ") WHERE n <= ? ORDER BY schedule_id, fired_at",
            [*_TERMINAL, LIVE_MAX],
        )
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r["schedule_id"], []).append(r["task_id"])
        return out

    async def last_fires(self, schedule_id: str | None = None) -> dict[str, ScheduleFireOut]:
        """Each schedule's latest fire that was not skipped, with its task's state."""
        where, params = ("AND f.schedule_id = ?", [schedule_id]) if schedule_id else ("", [])
        rows = await self.store.fetch(
            "SELECT * EXCLUDE (n) FROM ("
            f"  SELECT f.*, {_TASK_COLUMNS}, row_number() OVER ("
            "    PARTITION BY f.schedule_id ORDER BY f.fired_at DESC, f.slot DESC) AS n"
            "  FROM schedule_fires AS f LEFT JOIN tasks AS t ON t.id = f.task_id"
            f"  WHERE f.skipped_reason IS NULL {where}"
            ") WHERE n = 1",
            params,
        )
        return {r["schedule_id"]: ScheduleFireOut.model_validate(r) for r in rows}

    async def fires(
        self, schedule_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> ScheduleFirePage:
        """A page of a schedule's fires, newest slot first, with their tasks' states."""
        limit = min(row_limit(limit), MAX_LIMIT)
        sql = f"{_WITH_STATE} WHERE f.schedule_id = ?"
        params: list[Any] = [schedule_id]
        if cursor:
            slot, manual = _decode(cursor)
            sql += " AND (f.slot < ? OR (f.slot = ? AND f.manual < ?))"
            params += [slot, slot, manual]
        rows = await self._all(
            ScheduleFireOut,
            f"{sql} ORDER BY f.slot DESC, f.manual DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = rows[:limit]
        more = len(rows) > limit
        return ScheduleFirePage(
            items=items, next_cursor=_encode(items[-1].slot, items[-1].manual) if more else None
        )


def _encode(slot: datetime, manual: bool) -> str:
    raw = json.dumps([slot.isoformat(), manual]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        slot, manual = json.loads(raw)
        if not isinstance(manual, bool):
            raise ValueError("manual")
        return datetime.fromisoformat(slot), manual
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "this cursor was not issued by this listing", details={"cursor": cursor[:100]}
        ) from exc
