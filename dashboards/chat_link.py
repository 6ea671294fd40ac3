"""A chat session's WebSocket, held by a background thread for one browser session.

The thread receives messages into a queue the page drains in its periodic callback, so the
server's event loop never waits on the socket. When the socket drops, it reconnects with the
last sequence number it saw and the server replays what was missed: messages are shown once
each, in order, by ``seq``.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from agency.client import AgencyClient

RECONNECT_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)


class ChatLink:
    """Keeps one session's socket open, reconnecting by last seq; ``inbox`` gets messages."""

    def __init__(self, client: AgencyClient, session_id: str, after: int = 0) -> None:
        self.client = client
        self.session_id = session_id
        self.last_seq = after
        self.status = "connecting"
        self.reconnects = 0
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._conn: Any = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chat-{session_id}", daemon=True)
        self._thread.start()

    def send(self, content: str, timeout: float = 10.0) -> None:
        """Send one message (blocking: call it off the event loop)."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"chat session {self.session_id}: not connected ({self.status})")
        self._conn.send(content)

    def drain(self) -> list[dict[str, Any]]:
        """New messages in seq order, each once (a replay after a reconnect is deduplicated)."""
        got: list[dict[str, Any]] = []
        while True:
            try:
                got.append(self.inbox.get_nowait())
            except queue.Empty:
                return got

    def close(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead socket: nothing left to release
                self.status = "closed"
        self.status = "closed"

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with self.client.chat(self.session_id, after=self.last_seq) as conn:
                    self._conn = conn
                    self._ready.set()
                    self.status = "live"
                    failures = 0
                    for frame in conn:
                        # whole messages only; "delta" frames of a streamed reply end in one
                        if (
                            frame.get("type", "message") == "message"
                            and int(frame.get("seq", 0)) > self.last_seq
                        ):
                            self.last_seq = int(frame["seq"])
                            self.inbox.put(frame)
                        if self._stop.is_set():
                            return
            except Exception as exc:  # a drop: reconnect from the last seq we saw
                self.status = f"reconnecting after {type(exc).__name__}"
            self._ready.clear()
            self._conn = None
            if self._stop.is_set():
                return
            self.reconnects += 1
            self._stop.wait(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
            failures += 1
