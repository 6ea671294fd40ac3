"""``TaskRepository``: tasks, their attempts and their stored output.

Reads include a keyset-paged, filtered listing; writes are the operations the orchestrator
hands to the store's journal with each change (one upsert per table per commit).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agency.errors import InvalidCursor, ValidationFailed
from agency.models import TERMINAL_STATES, Attempt, OutputChunk, Task, TaskState
from agency.storage.ops import Upsert, WriteOp
from agency.storage.repository import Repository

SortField = Literal["created_at", "updated_at", "priority"]
MAX_LIMIT = 500


@dataclass
class TaskQuery:
    """Filters, order and page of a task listing; every filter given must match."""

    states: list[TaskState] | list[str] | None = None
    kind: str | None = None
    worker_id: str | None = None
    label: str | None = None  # "key=value"
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None  # substring of id, kind or spec (case-insensitive)
    parent_id: str | None = None  # the children of this task
    sort: SortField = "created_at"
    descending: bool = True
    limit: int = 50
    cursor: str | None = None


@dataclass
class TaskPage:
    """One page of tasks and the cursor of the next one (``None`` on the last page)."""

    items: list[Task]
    next_cursor: str | None


def _filters(q: TaskQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if q.states:
        where.append(f"state IN ({', '.join('?' for _ in q.states)})")
        params.extend(str(TaskState(s).value) for s in q.states)
    for column, value in (("kind", q.kind), ("worker_id", q.worker_id), ("parent_id", q.parent_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if q.label:
        key, sep, value = q.label.partition("=")
        if not sep or not key:
            raise ValidationFailed("label filter must be key=value", details={"label": q.label})
        where.append("json_extract_string(labels, ?) = ?")
        params.extend(["$." + json.dumps(key), value])  # a quoted path step: any key is safe
    if q.created_after is not None:
        where.append("created_at >= ?")
        params.append(q.created_after)
    if q.created_before is not None:
        where.append("created_at < ?")
        params.append(q.created_before)
    if q.text:
        pattern = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            "(id ILIKE ? ESCAPE '\\' OR kind ILIKE ? ESCAPE '\\' OR CAST(spec AS VARCHAR) ILIKE ? ESCAPE '\\')"
        )
        params.extend([pattern] * 3)
    return where, params


def _encode_cursor(value: Any, task_id: str) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, task_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: SortField) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, task_id = json.loads(raw)
        if not isinstance(task_id, str):
            raise ValueError("id")
        if sort == "priority":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("priority")
            return value, task_id
        return datetime.fromisoformat(value), task_id
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "this cursor was not issued by this listing", details={"cursor": cursor[:100]}
        ) from exc


class TaskRepository(Repository):
    """The ``tasks``, ``attempts`` and ``task_output`` tables."""

    # --- reads -------------------------------------------------------------------------

    async def get(self, task_id: str) -> Task | None:
        return await self._one(Task, "SELECT * FROM tasks WHERE id = ?", [task_id])

    async def get_by_key(self, idempotency_key: str) -> Task | None:
        return await self._one(
            Task,
            "SELECT * FROM tasks WHERE idempotency_key = ? ORDER BY created_at LIMIT 1",
            [idempotency_key],
        )

    async def by_keys(self, keys: list[str]) -> list[Task]:
        """Every task whose idempotency key is one of ``keys``, oldest first."""
        if not keys:
            return []
        marks = ", ".join("?" for _ in keys)
        return await self._all(
            Task,
            f"SELECT * FROM tasks WHERE idempotency_key IN ({marks}) ORDER BY created_at",
            keys,
        )

    async def page(self, q: TaskQuery) -> TaskPage:
        """A page of tasks in ``q.sort`` order (ties by id), after ``q.cursor``."""
        if q.sort not in ("created_at", "updated_at", "priority"):
            raise ValidationFailed(f"cannot sort tasks by {q.sort!r}")
        limit = max(1, min(q.limit, MAX_LIMIT))
        clauses, params = _filters(q)
        direction, cmp = ("DESC", "<") if q.descending else ("ASC", ">")
        if q.cursor:
            value, last_id = _decode_cursor(q.cursor, q.sort)
            clauses.append(f"({q.sort} {cmp} ? OR ({q.sort} = ? AND id {cmp} ?))")
            params.extend([value, value, last_id])
        sql = (
            f"SELECT * FROM tasks {_where_all(clauses)} "
            f"ORDER BY {q.sort} {direction}, id {direction} LIMIT {limit + 1}"
        )
        rows = await self.store.fetch(sql, params)
        items = [Task.model_validate(r) for r in rows[:limit]]
        more = len(rows) > limit
        cursor = _encode_cursor(getattr(items[-1], q.sort), items[-1].id) if more else None
        return TaskPage(items, cursor)

    async def child_ids(self, parent_id: str, limit: int = 1000) -> list[str]:
        """The ids of ``parent_id``'s children, oldest first (at most ``limit``)."""
        rows = await self.store.fetch(
            "SELECT id FROM tasks WHERE parent_id = ? ORDER BY created_at, id LIMIT ?",
            [parent_id, limit],
        )
        return [str(r["id"]) for r in rows]

    async def count(self, q: TaskQuery) -> int:
        """How many tasks match ``q``'s filters (order and page ignored)."""
        clauses, params = _filters(q)
        row = await self.store.fetch_one(
            f"SELECT count(*) AS n FROM tasks {_where_all(clauses)}", params
        )
        return int(row["n"]) if row else 0

    async def unfinished(self) -> list[Task]:
        """Every task not in a terminal state, oldest first (what recovery must pick up)."""
        terminal = sorted(s.value for s in TERMINAL_STATES)
        marks = ", ".join("?" for _ in terminal)
        return await self._all(
            Task,
            f"SELECT * FROM tasks WHERE state NOT IN ({marks}) ORDER BY created_at, id",
            terminal,
        )

    async def counts_by_state(self) -> dict[str, int]:
        """Task count per state; every state is present (0 when none)."""
        rows = await self.store.fetch("SELECT state, count(*) AS n FROM tasks GROUP BY state")
        counts = {s.value: 0 for s in TaskState}
        counts.update({r["state"]: int(r["n"]) for r in rows})
        return counts

    async def attempts(self, task_id: str) -> list[Attempt]:
        """The finished attempts of a task, by number."""
        return await self._all(
            Attempt, "SELECT * FROM attempts WHERE task_id = ? ORDER BY attempt", [task_id]
        )

    async def output_chunks(
        self, task_id: str, attempt: int, stream: Literal["stdout", "stderr"]
    ) -> list[tuple[int, str]]:
        """The stored chunks of one attempt's stream as (offset, text), by offset."""
        rows = await self.store.fetch(
            'SELECT "offset", data FROM task_output WHERE task_id = ? AND attempt = ? '
            'AND stream = ? ORDER BY "offset"',
            [task_id, attempt, stream],
        )
        return [(int(r["offset"]), str(r["data"])) for r in rows]

    async def read_output(
        self,
        task_id: str,
        stream: Literal["stdout", "stderr"] = "stdout",
        offset: int = 0,
        *,
        attempt: int | None = None,
        limit: int = 1_000_000,
    ) -> tuple[str, int]:
        """Stored text of ``stream`` from ``offset`` on, counting offsets in characters of the
        stored chunks (latest attempt by default); stops at a gap rather than skip it.

        Returns the text and the offset to ask for next; at most about ``limit`` characters.
        """
        if attempt is None:
            row = await self.store.fetch_one(
                "SELECT max(attempt) AS a FROM task_output WHERE task_id = ?", [task_id]
            )
            if not row or row["a"] is None:
                return "", offset
            attempt = int(row["a"])
        rows = await self.store.fetch(
            'SELECT "offset", data FROM task_output WHERE task_id = ? AND attempt = ? '
            'AND stream = ? AND "offset" + length(data) > ? ORDER BY "offset"',
            [task_id, attempt, stream, offset],
        )
        parts: list[str] = []
        position = offset
        for r in rows:
            start = int(r["offset"])
            if start > position:  # a gap: stop rather than return text out of place
                break
            piece = r["data"][position - start :]
            parts.append(piece)
            position += len(piece)
            if position - offset >= limit:
                break
        return "".join(parts), position

    # --- writes ------------------------------------------------------------------------

    @staticmethod
    def changes(tasks: Iterable[Task], attempts: Iterable[Attempt] = ()) -> list[WriteOp]:
        """The operations that store ``tasks`` (whole rows) and ended ``attempts``.

        Upserts both: these go through the journal, where a duplicate key would be refused
        only when applied, and with it the task's own change. One operation per table, so
        the writer merges a commit's rows of a table into one statement.
        """
        ops: list[WriteOp] = [Upsert("tasks", [t.model_dump(mode="python") for t in tasks])]
        ended = [a.model_dump(mode="python") for a in attempts]
        if ended:
            ops.append(Upsert("attempts", ended, key=("task_id", "attempt")))
        return ops

    @staticmethod
    def output(chunks: list[OutputChunk]) -> list[WriteOp]:
        """The operation that stores an attempt's output chunks (none when there are none).

        An upsert: journaled with the task's result, a duplicate chunk must not refuse both.
        """
        if not chunks:
            return []
        rows = [c.model_dump(mode="python") for c in chunks]
        return [Upsert("task_output", rows, key=("task_id", "attempt", "stream", "offset"))]


def _where_all(clauses: list[str]) -> str:
    return "WHERE " + " AND ".join(clauses) if clauses else ""
