"""Live feeds: one background thread per SSE stream per dashboard process.

Every browser session reads the newest items from memory in a short periodic callback, so
the Bokeh server's event loop never waits on the network and a hundred open tabs cost one
connection per stream. The thread reconnects by itself (the client's iterators resume from
the last event id; this loop also survives the iterator giving up) and says how it is doing
in ``status``, which the pages show.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agency.client import AgencyClient

from .connection import Backend
from .data.frames import records

StreamOpener = Callable[[], Iterable[Any]]

#: Seconds between reconnect attempts when a stream fails: short first, capped.
RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class FeedItem:
    """One item received from a stream, numbered in arrival order from 1."""

    n: int
    data: dict[str, Any]


@dataclass
class StreamFeed:
    """Reads one stream in a daemon thread and keeps the latest item and a bounded backlog."""

    name: str
    opener: StreamOpener
    keep: int = 2000
    status: str = "connecting"
    received: int = 0
    reconnects: int = 0
    latest: dict[str, Any] | None = None
    _items: deque[FeedItem] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> StreamFeed:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"feed-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def since(self, n: int) -> list[FeedItem]:
        """Items numbered above ``n`` still in the backlog, oldest first."""
        with self._lock:
            return [it for it in self._items if it.n > n]

    def _push(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.received += 1
            self.latest = data
            self._items.append(FeedItem(self.received, data))
            while len(self._items) > self.keep:
                self._items.popleft()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.status = "connecting" if self.received == 0 else "reconnecting"
                for item in self.opener():
                    if self._stop.is_set():
                        return
                    data = item.model_dump(mode="json") if hasattr(item, "model_dump") else item
                    if isinstance(data, dict):
                        self._push(data)
                    self.status = "live"
                    failures = 0
                self.status = "stream ended; reconnecting"
            except Exception as exc:  # any failure: report it and retry, the page keeps working
                self.status = f"reconnecting after {type(exc).__name__}: {exc}"[:200]
            self.reconnects += 1
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            self._stop.wait(delay)


class Feeds:
    """The metrics, task-event and alert feeds of one backend, started on first use."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.client = backend.client()
        # the stream reader gets its own client: a long-lived stream holds a connection
        stream_client = backend.client()
        self.metrics = StreamFeed("metrics", stream_client.stream_metrics, keep=600).start()
        self.events = StreamFeed(
            "events", lambda: stream_client.stream_events(after=_now_seq(self)), keep=5000
        ).start()
        alert_client = backend.client()
        alert_events = StreamFeed(
            "alerts", lambda: alert_client.stream_events(resource_type="alert"), keep=200
        ).start()
        self.alerts = AlertBoard(self.client, alert_events).start()
        self.started = time.monotonic()
        self._clients: dict[str, AgencyClient] = {}
        self._clients_lock = threading.Lock()

    def client_for(self, operator: str | None) -> AgencyClient:
        """The shared client of this backend that names ``operator`` on every request (one
        per person, however many of their tabs are open)."""
        if not operator:
            return self.client
        with self._clients_lock:
            client = self._clients.get(operator)
            if client is None:
                client = self._clients[operator] = self.backend.client(operator)
            return client


def _now_seq(feeds: Feeds) -> int | None:
    """Resume point for a fresh event stream: live events only, after the newest one seen."""
    latest = feeds.events.latest if hasattr(feeds, "events") else None
    if latest and isinstance(latest.get("seq"), int):
        return int(latest["seq"])
    return None


#: the open alerts are read again at least this often, in case a stream event was missed
ALERTS_RESYNC_S = 15.0


class AlertBoard:
    """The open alerts of one backend, read again as soon as an ``alert.*`` event arrives.

    One thread per dashboard process watches the alert feed's counter and re-reads the open
    list when it moves (and every ``ALERTS_RESYNC_S``); sessions compare ``version`` in their
    tick, so a hundred tabs cost one read per change.
    """

    def __init__(self, client: AgencyClient, events: StreamFeed) -> None:
        self.client = client
        self.events = events
        self.open: list[dict[str, Any]] = []
        self.version = 0
        self.error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AlertBoard:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alert-board", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.events.stop()

    def changed(self) -> None:
        """Read the open alerts again now (after this session moved one, for instance)."""
        self._wake.set()

    def _run(self) -> None:
        seen, last = -1, 0.0
        while not self._stop.is_set():
            due = time.monotonic() - last >= ALERTS_RESYNC_S
            if self.events.received != seen or due or self._wake.is_set():
                self._wake.clear()
                seen, last = self.events.received, time.monotonic()
                try:
                    self.open = records(self.client.alerts(state="open"))
                    self.error = None
                except Exception as exc:  # the badge says so; the next change reads again
                    self.error = f"{type(exc).__name__}: {exc}"[:200]
                self.version += 1
            self._wake.wait(0.1)


_FEEDS: dict[Backend, Feeds] = {}
_FEEDS_LOCK = threading.Lock()


def feeds_for(backend: Backend) -> Feeds:
    """The process-wide feeds of ``backend`` (one set however many sessions are open)."""
    with _FEEDS_LOCK:
        feeds = _FEEDS.get(backend)
        if feeds is None:
            feeds = _FEEDS[backend] = Feeds(backend)
        return feeds
