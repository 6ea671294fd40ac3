"""Refusals as audit events: who was turned away, from where, and why, with verdict ``denied``.

A refusal event is written in the background: the refused caller's 401/403/429 never waits
for the database writer, and a flood of refusals cannot hold request slots while the writer
is busy. The event still goes through the writer (journal, hash chain) like any other; only
an event queued in the last instant before a crash can be lost, which is acceptable for a
refusal (the caller's answer carried no state change).

Refusals are sampled per key (a token, a source address, a worker): at most one event per
key per ``interval`` seconds; the next event of the key carries ``suppressed``, the number of
refusals of that key left unwritten since the previous one. So an abusive client, even one
with no token at all, adds a bounded number of events to the chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agency.models import EventIn
from agency.storage import EventRepository

log = logging.getLogger(__name__)

DENIED = "denied"
QUEUE_MAX = 1000  # refusal events waiting for the writer; past it new ones are dropped (logged)
BATCH_MAX = 200  # refusal events appended in one write
KEYS_MAX = 10_000  # sampling keys remembered; expired ones are pruned past it


def without_userinfo(url: str) -> str:
    """``url`` without its ``user:password@`` part: a refused URL may carry a credential,
    and the audit chain keeps what it is given forever."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class Refusals:
    """Writes refusal events in the background, sampled per key (see the module docstring)."""

    def __init__(
        self,
        events: EventRepository,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        keys_max: int = KEYS_MAX,
    ) -> None:
        self.events = events
        self.interval = interval
        self.keys_max = keys_max
        self._clock = clock
        # key -> (clock() of its last written event, refusals suppressed since)
        self._seen: dict[Hashable, tuple[float, int]] = {}
        self._queue: asyncio.Queue[EventIn] = asyncio.Queue(QUEUE_MAX)
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0  # events lost to a full queue (a flood faster than the writer)

    def refuse(
        self,
        action: str,
        *,
        actor: str,
        resource_type: str,
        resource_id: str,
        address: str | None,
        reason: str,
        key: Hashable | None = None,
        **details: Any,
    ) -> bool:
        """Record one refusal; with a ``key``, only if that key's last event is ``interval``
        old. Returns whether an event was queued."""
        body: dict[str, Any] = {"address": address, "reason": reason, **details}
        if key is not None:
            suppressed = self._sample((action, key))
            if suppressed is None:
                return False
            body["suppressed"] = suppressed
        event = EventIn(
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            details=body,
            verdict=DENIED,
        )
        return self._enqueue(event)

    def _sample(self, key: Hashable) -> int | None:
        """``None`` to suppress this refusal, else the count suppressed since the last event."""
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.interval:
            self._seen[key] = (seen[0], seen[1] + 1)
            return None
        if seen is None and len(self._seen) >= self.keys_max:
            self._prune(now)
        self._seen[key] = (now, 0)
        return seen[1] if seen is not None else 0

    def _prune(self, now: float) -> None:
        # keys whose window has passed lose only their pending count, never a whole event
        self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval}
        while len(self._seen) >= self.keys_max:  # a flood of fresh keys: forget the oldest
            del self._seen[next(iter(self._seen))]

    @property
    def keys(self) -> int:
        """How many sampling keys are remembered (bounded by ``keys_max``)."""
        return len(self._seen)

    def _enqueue(self, event: EventIn) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("refusal event dropped (writer behind): %s", event.action)
            return False
        if self._writer is None or self._writer.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # a synchronous caller: the next refusal on the loop writes it
                return True
            self._writer = loop.create_task(self._write(), name="agency-refusals")
        return True

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.events.append(*batch)
            except Exception:  # a refusal event is not worth stopping the writer for
                log.exception("%d refusal event(s) not written", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def settle(self) -> None:
        """Wait until every queued refusal event is written (tests; shutdown)."""
        if self._writer is None and not self._queue.empty():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        await self._queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout`` seconds), then stop the writer."""
        if not self._queue.empty():
            try:
                await asyncio.wait_for(self.settle(), timeout)
            except TimeoutError:
                log.warning("%d refusal event(s) not written at stop", self._queue.qsize())
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
