"""Typed reads of the audit events: filtered listing and a task's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agency.models import Event
from agency.storage.store import Store

MAX_LIMIT = 10_000


async def list_events(
    store: Store,
    *,
    action: str | None = None,
    actor: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = 100,
    descending: bool = False,
) -> list[Event]:
    """Events matching every given filter, by seq (oldest first unless ``descending``).

    ``action`` ending in ``.`` matches as a prefix (``task.`` is every task action).
    ``after_seq`` pages forward; ``since`` is inclusive, ``until`` exclusive.
    """
    where: list[str] = []
    params: list[Any] = []
    if action is not None:
        if action.endswith("."):
            where.append("starts_with(action, ?)")
        else:
            where.append("action = ?")
        params.append(action)
    for column, value in (
        ("actor", actor),
        ("resource_type", resource_type),
        ("resource_id", resource_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if until is not None:
        where.append("ts < ?")
        params.append(until)
    if after_seq is not None:
        where.append("seq > ?")
        params.append(after_seq)
    limit = max(1, min(limit, MAX_LIMIT))
    sql = (
        f"SELECT * FROM events {'WHERE ' + ' AND '.join(where) if where else ''} "
        f"ORDER BY seq {'DESC' if descending else 'ASC'} LIMIT {limit}"
    )
    return [Event.model_validate(r) for r in await store.fetch(sql, params)]


async def get_event(store: Store, seq: int) -> Event | None:
    row = await store.fetch_one("SELECT * FROM events WHERE seq = ?", [seq])
    return Event.model_validate(row) if row else None


async def task_timeline(store: Store, task_id: str) -> list[Event]:
    """Every event about one task, in the order it happened."""
    rows = await store.fetch(
        "SELECT * FROM events WHERE resource_type = 'task' AND resource_id = ? ORDER BY seq",
        [task_id],
    )
    return [Event.model_validate(r) for r in rows]
