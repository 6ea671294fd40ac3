"""Live feed of committed events for SSE streams: one bounded buffer per subscriber."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType

from agency.models import Event


class EventSubscription:
    """Async iterator over every committed event, in seq order, from subscription on.

    The buffer holds ``maxsize`` events; a subscriber that falls further behind loses the
    oldest ones and ``lagged`` turns true, so it can resume from the events table by seq.
    Iteration ends when the subscription or the store is closed.
    """

    def __init__(self, maxsize: int, on_close: Callable[[EventSubscription], None]) -> None:
        self._buffer: deque[Event] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self._closed = False
        self._on_close = on_close
        self.lagged = False
        self.dropped = 0

    def push(self, events: Iterable[Event]) -> None:
        for ev in events:
            if len(self._buffer) == self._buffer.maxlen:
                self.lagged = True
                self.dropped += 1
            self._buffer.append(ev)
        self._ready.set()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._ready.set()
            self._on_close(self)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Events buffered: the next ones are at hand without waiting."""
        return len(self._buffer)

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._buffer.popleft()

    async def __aenter__(self) -> EventSubscription:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
