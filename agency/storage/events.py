"""``EventRepository``: the append-only, hash-chained audit events and their live feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agency.models import Event, EventIn
from agency.storage.ops import ChainReport
from agency.storage.repository import Repository
from agency.storage.subscribe import EventSubscription

MAX_LIMIT = 10_000


class EventRepository(Repository):
    """The ``events`` table: filtered listing, a task's timeline, appends, the chain check."""

    async def find(
        self,
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
        before_seq: int | None = None,
    ) -> list[Event]:
        """Events matching every given filter, by seq (oldest first unless ``descending``).

        ``action`` ending in ``.`` matches as a prefix (``task.`` is every task action).
        ``after_seq`` pages forward, ``before_seq`` backward; ``since`` is inclusive, ``until``
        exclusive.
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
        if before_seq is not None:
            where.append("seq < ?")
            params.append(before_seq)
        limit = max(1, min(limit, MAX_LIMIT))
        sql = (
            f"SELECT * FROM events {'WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY seq {'DESC' if descending else 'ASC'} LIMIT {limit}"
        )
        return await self._all(Event, sql, params)

    async def get(self, seq: int) -> Event | None:
        return await self._one(Event, "SELECT * FROM events WHERE seq = ?", [seq])

    async def timeline(self, task_id: str) -> list[Event]:
        """Every event about one task, in the order it happened."""
        return await self._all(
            Event,
            "SELECT * FROM events WHERE resource_type = 'task' AND resource_id = ? ORDER BY seq",
            [task_id],
        )

    async def append(self, *events: EventIn) -> list[Event]:
        """Append events to the chain together; returns them as committed."""
        return await self._write(*events)

    @property
    def last_seq(self) -> int:
        """Sequence number of the last acknowledged event (0 when there is none)."""
        return self.store.last_seq

    def subscribe(self, maxsize: int = 10_000) -> EventSubscription:
        """Every event committed from now on, in seq order (see ``EventSubscription``)."""
        return self.store.subscribe(maxsize)

    async def verify_chain(self) -> ChainReport:
        """Walk the hash chain; the first missing, unlinked or edited event fails it."""
        return await self.store.verify_chain()

    async def chain_heads(self, seqs: list[int]) -> tuple[int, dict[int, str]]:
        """The highest seq in the table and the stored hash at each of ``seqs`` (checkpoints)."""
        return await self.store.chain_heads(seqs)
