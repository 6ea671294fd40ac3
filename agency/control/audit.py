"""The audit trail: events filtered and paged, the hash chain's check, task replay, and the
live feed of committed events.

The feed subscribes to the store *before* reading the table, then reads every matching event
after the resume point from the table, then follows the live feed, skipping what it already
gave (seq <= cursor) and back-filling from the table when the live feed jumps (a lagging
subscriber lost events): no gaps, no duplicates.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agency.control.checkpoints import CheckpointService
from agency.control.tasks import Orchestrator, replay_task
from agency.errors import InvalidCursor
from agency.models import Event, Task
from agency.security.checkpoints import CheckpointReport
from agency.storage import ChainReport, EventRepository, EventSubscription

PAGE = 500  # events read from the table at a time while back-filling a feed
BATCH = 256  # events a feed hands over at once at most (one SSE write for all of them)

# the fields replay must reproduce; timestamps differ by design (replay does not re-run the clock)
REPLAYED_FIELDS = (
    "state",
    "attempt",
    "worker_id",
    "reason",
    "priority",
    "exit_code",
    "kind",
    "verdict",
)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "this cursor was not issued by this server", details={"cursor": cursor[:100]}
        ) from exc
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidCursor(
            "this cursor was not issued by this server", details={"cursor": cursor[:100]}
        )
    return value


@dataclass(frozen=True)
class EventFilter:
    """Which events a listing or a feed carries; every given criterion must match.

    ``action`` ending in ``.`` matches as a prefix (``task.`` is every task action).
    """

    action: str | None = None
    actor: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None

    def matches(self, ev: Event) -> bool:
        if self.resource_type is not None and ev.resource_type != self.resource_type:
            return False
        if self.resource_id is not None and ev.resource_id != self.resource_id:
            return False
        if self.action is not None and not (
            ev.action == self.action
            or (self.action.endswith(".") and ev.action.startswith(self.action))
        ):
            return False
        return self.actor is None or ev.actor == self.actor


@dataclass(frozen=True)
class Replay:
    """A task rebuilt from its events beside the stored one, and the fields that differ."""

    task: Task
    stored: Task
    differences: dict[str, dict[str, Any]]


class AuditService:
    """Reads of the events table and its live feed."""

    def __init__(
        self, events: EventRepository, tasks: Orchestrator, checkpoints: CheckpointService
    ) -> None:
        self.events = events
        self.tasks = tasks
        self.checkpoints = checkpoints

    async def page(
        self,
        f: EventFilter,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> tuple[list[Event], str | None]:
        """Events oldest first (``descending``: newest first) and the cursor of the next page
        (``None`` on the last); the cursor is the last seq given, read in the same order."""
        mark = decode_cursor(cursor) if cursor else None
        after, before = (None, mark) if descending else (mark, None)
        items = await self.events.find(
            action=f.action,
            actor=f.actor,
            resource_type=f.resource_type,
            resource_id=f.resource_id,
            since=since,
            until=until,
            after_seq=after,
            before_seq=before,
            limit=limit + 1,
            descending=descending,
        )
        more = len(items) > limit
        items = items[:limit]
        return items, encode_cursor(items[-1].seq) if more else None

    async def verify(self) -> ChainReport:
        """Recompute the hash chain; the report names the first bad sequence number."""
        return await self.events.verify_chain()

    async def verify_with_checkpoints(self) -> tuple[ChainReport, CheckpointReport]:
        """The chain check, and the chain compared with the signed checkpoints (which see a
        truncation or a recomputed chain that the chain check alone cannot)."""
        return await self.events.verify_chain(), await self.checkpoints.verify()

    async def replay(self, task_id: str) -> Replay:
        """The task rebuilt from its events alone, beside the stored row."""
        stored = await self.tasks.get(task_id)
        rebuilt = replay_task(await self.events.timeline(task_id))
        differences: dict[str, dict[str, Any]] = {}
        for name in REPLAYED_FIELDS:
            a, b = getattr(rebuilt, name), getattr(stored, name)
            if a != b:
                differences[name] = {"replayed": a, "stored": b}
        return Replay(rebuilt, stored, differences)

    def follow(self, f: EventFilter, resume: int | None) -> EventFeed:
        """Matching events committed from now on, or every one after seq ``resume`` first.

        Subscribes now, before any read of the table, so nothing committed in between is
        missed; ``close`` the feed when done.
        """
        live = self.events.subscribe()
        cursor = self.events.last_seq if resume is None else resume
        return EventFeed(self.events, live, f, cursor, backfill=resume is not None)


class EventFeed:
    """One subscriber's events: the table from the cursor (when resuming), then the live feed."""

    def __init__(
        self,
        events: EventRepository,
        live: EventSubscription,
        f: EventFilter,
        cursor: int,
        *,
        backfill: bool,
    ) -> None:
        self._events = events
        self._live = live
        self._filter = f
        self.cursor = cursor
        self._backfill = backfill

    def close(self) -> None:
        self._live.close()

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for batch in self.batches():
            for ev in batch:
                yield ev

    async def batches(self, most: int = BATCH) -> AsyncIterator[list[Event]]:
        """The same events in order, in lists of up to ``most``: a list ends where the next
        event is not at hand yet (so nothing waits behind a quiet feed), or at ``most``."""
        f = self._filter
        batch: list[Event] = []
        if self._backfill:
            async for ev in self._table(self.cursor, None):
                self.cursor = max(self.cursor, ev.seq)
                if f.matches(ev):
                    batch.append(ev)
                    if len(batch) >= most:
                        yield batch
                        batch = []
        while True:
            if batch and (len(batch) >= most or not self._live.pending):
                yield batch
                batch = []
            try:
                ev = await anext(self._live)
            except StopAsyncIteration:
                break
            if ev.seq <= self.cursor:
                continue
            if ev.seq > self.cursor + 1:  # the live buffer dropped events: take them from the table
                async for old in self._table(self.cursor, ev.seq):
                    if f.matches(old):
                        batch.append(old)
            self.cursor = ev.seq
            if f.matches(ev):
                batch.append(ev)
        if batch:
            yield batch

    async def _table(self, after_seq: int, below: int | None) -> AsyncIterator[Event]:
        f = self._filter
        while True:
            page = await self._events.find(
                action=f.action,
                actor=f.actor,
                resource_type=f.resource_type,
                resource_id=f.resource_id,
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
