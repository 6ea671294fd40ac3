"""Server-sent events for both clients: the ``text/event-stream`` parser, the reconnect
policy, and ``Stream``, one followed stream's state (where it is, the last id seen).

A client's transport loop only opens connections and feeds lines; what a message means, which
id to resume from and how long to wait before reconnecting is decided here, once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx

from agency.client.wire import QueryParams
from agency.errors import ServiceUnavailable

T = TypeVar("T")
STREAM_TIMEOUT = httpx.Timeout(10.0, read=60.0)  # read > 3 keep-alives: a dead link is noticed


@dataclass
class SseMessage:
    """One server-sent event."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SseDecoder:
    """Incremental ``text/event-stream`` parser (WHATWG rules): feed lines, get messages."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> SseMessage | None:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._data:
                self._event, self._id, self._retry = "", None, None
                return None
            msg = SseMessage(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self._id,
                retry=self._retry,
            )
            self._event, self._data, self._id, self._retry = "", [], None, None
            return msg
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


@dataclass
class Reconnect:
    """Reconnect policy of the stream iterators: backoff from the server's ``retry`` hint."""

    enabled: bool = True
    max_attempts: int | None = None  # consecutive failed attempts; None = keep trying
    delay: float = 1.0
    max_delay: float = 10.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        if self.max_attempts is not None and self.failures > self.max_attempts:
            raise ServiceUnavailable(
                f"stream lost; gave up after {self.max_attempts} reconnect attempts"
            )
        return float(min(self.max_delay, self.delay * math.pow(2, min(self.failures - 1, 6))))

    def connected(self) -> None:
        self.failures = 0


@dataclass
class Stream(Generic[T]):
    """One SSE endpoint being followed: each reconnect resumes after ``last_id``
    (``Last-Event-ID``), so nothing is missed or repeated; ``parse`` gives ``None`` for
    messages that are not items (another event kind)."""

    path: str
    params: QueryParams
    parse: Callable[[SseMessage], T | None]
    last_id: str | None = None
    reconnect: Reconnect = field(default_factory=Reconnect)
    #: the event that ends the stream for good (no reconnect), when it has an end
    final: str | None = None
    ended: bool = False

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        return headers

    def seen(self, msg: SseMessage) -> T | None:
        """Note a message (the link works, the server's retry hint, its id); its item."""
        self.reconnect.connected()
        if msg.retry is not None:
            self.reconnect.delay = msg.retry / 1000
        if msg.id is not None:
            self.last_id = msg.id
        if self.final is not None and msg.event == self.final:
            self.ended = True
            return None
        return self.parse(msg)
