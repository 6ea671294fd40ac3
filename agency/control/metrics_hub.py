"""The KPI snapshot ticker behind ``/api/v1/metrics/stream``.

One task computes and JSON-encodes a snapshot every ``interval`` seconds and hands the same
string to every subscriber, so 100 clients cost one ``kpis()`` call per tick. The last
``keep`` snapshots stay in a ring, so a client reconnecting with ``Last-Event-ID`` gets the
snapshots it missed. Ids are the tick's epoch milliseconds: they keep growing across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("agency.api")

Snapshot = tuple[int, str]


class SnapshotSubscription:
    """One client's bounded queue of (id, json) snapshots; oldest dropped when it lags."""

    def __init__(self, hub: MetricsHub, backlog: list[Snapshot], maxsize: int) -> None:
        self._hub = hub
        self._items: deque[Snapshot] = deque(backlog, maxlen=maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0
        if backlog:
            self._ready.set()

    def push(self, item: Snapshot) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    async def next(self) -> Snapshot:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class MetricsHub:
    """Broadcasts one KPI snapshot per tick to every subscriber."""

    def __init__(
        self, snapshot: Callable[[], dict[str, Any]], *, interval: float = 1.0, keep: int = 120
    ) -> None:
        self._snapshot = snapshot
        self.interval = interval
        self._ring: deque[Snapshot] = deque(maxlen=keep)
        self._subs: set[SnapshotSubscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_id = 0

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, last_id: int | None) -> SnapshotSubscription:
        """A subscription; with ``last_id`` it starts with the kept snapshots newer than it,
        without it with the latest snapshot (so a new client has something to show at once)."""
        if last_id is None:
            fresh_after = int(time.time() * 1000) - int(2000 * self.interval)
            backlog = [s for s in list(self._ring)[-1:] if s[0] >= fresh_after]
        else:
            backlog = [s for s in self._ring if s[0] > last_id]
        sub = SnapshotSubscription(self, backlog, maxsize=max(self._ring.maxlen or 1, 1))
        self._subs.add(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="agency-metrics-hub"
            )
        return sub

    def unsubscribe(self, sub: SnapshotSubscription) -> None:
        self._subs.discard(sub)

    def tick(self) -> Snapshot:
        """Take one snapshot now and deliver it to every subscriber."""
        data = self._snapshot()
        # strictly increasing even if two ticks share a millisecond or the clock steps back
        ident = max(int(time.time() * 1000), self._last_id + 1)
        self._last_id = ident
        item = (ident, json.dumps(data, default=str, separators=(",", ":")))
        self._ring.append(item)
        for sub in list(self._subs):
            sub.push(item)
        return item

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        # stops itself when the last client left; the next subscribe starts it again
        while self._subs:
            try:
                self.tick()
            except Exception:  # a failing snapshot must not end the stream for everyone
                log.exception("KPI snapshot failed")
            next_at += self.interval
            delay = next_at - loop.time()
            if delay < 0:  # fell behind (a stalled loop): skip ticks rather than burst them
                next_at = loop.time() + self.interval
                delay = self.interval
            await asyncio.sleep(delay)

    async def close(self) -> None:
        self._subs.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
