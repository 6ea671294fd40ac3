"""Per-session serialization and fan-out of chat messages.

All chat writes of one control plane go through one ``SessionHub`` per session: its lock
makes "next sequence number, persist, publish" atomic, so two sockets on one session never
get the same number, and every persisted message (and every streamed reply piece) is put
on the queue of each socket listening to the session.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from agency.models import ChatMessage, EventIn
from agency.storage import ChatRepository

LISTENER_QUEUE = 1000  # frames a socket may fall behind before it is told to reconnect
CONTENT_IN_EVENT = 2000  # characters of a message kept in its audit event


@dataclass(frozen=True)
class CloseFrame:
    """Put on a listener's queue to close that socket once the frames before it are sent."""

    code: int
    reason: str


Outgoing = dict[str, Any] | CloseFrame


def message_frame(m: ChatMessage) -> dict[str, Any]:
    """The frame of a persisted message: ``{type, seq, role, content, created_at}``."""
    return {
        "type": "message",
        "seq": m.seq,
        "role": m.role,
        "content": m.content,
        "created_at": m.created_at.isoformat(),
    }


def error_frame(code: str, message: str, **details: Any) -> dict[str, Any]:
    """The frame of a refused message, in the API's error shape."""
    return {"type": "error", "error": {"code": code, "message": message, "details": details}}


class SessionHub:
    """The lock, last sequence number and listening sockets of one chat session."""

    def __init__(self, session_id: str, repo: ChatRepository) -> None:
        self.session_id = session_id
        self.repo = repo
        self.lock = asyncio.Lock()
        self.last_seq: int | None = None  # loaded from the table on first use, under the lock
        self.listeners: set[asyncio.Queue[Outgoing]] = set()

    def listen(self) -> asyncio.Queue[Outgoing]:
        queue: asyncio.Queue[Outgoing] = asyncio.Queue(LISTENER_QUEUE)
        self.listeners.add(queue)
        return queue

    def publish(self, frame: dict[str, Any]) -> None:
        for queue in list(self.listeners):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                # a stuck reader must not block the session: drop it, it resumes by seq
                self.listeners.discard(queue)
                queue.get_nowait()
                queue.put_nowait(CloseFrame(1013, "fell behind; reconnect with ?after=<last seq>"))

    async def append(
        self,
        role: str,
        content: str,
        actor: str,
        details: dict[str, Any] | None = None,
    ) -> ChatMessage:
        """Persist the next message (durable before it is published). Hold ``lock``."""
        if self.last_seq is None:
            self.last_seq = await self.repo.last_seq(self.session_id)
        message = ChatMessage(
            session_id=self.session_id, seq=self.last_seq + 1, role=role, content=content
        )
        await self.repo.add_message(
            message,
            EventIn(
                actor=actor,
                action="chat.message",
                resource_type="chat_session",
                resource_id=self.session_id,
                details={
                    "seq": message.seq,
                    "role": role,
                    "content": content[:CONTENT_IN_EVENT],
                    **(details or {}),
                },
            ),
        )
        self.last_seq = message.seq  # only once durable: a failed write reuses the number
        self.publish(message_frame(message))
        return message


class ChatHubs:
    """The hubs of the sessions that have sockets open (or a message in flight)."""

    def __init__(self, repo: ChatRepository) -> None:
        self.repo = repo
        self._hubs: dict[str, SessionHub] = {}
        self._users: dict[str, int] = {}

    def acquire(self, session_id: str) -> SessionHub:
        hub = self._hubs.get(session_id)
        if hub is None:
            hub = self._hubs[session_id] = SessionHub(session_id, self.repo)
        self._users[session_id] = self._users.get(session_id, 0) + 1
        return hub

    def release(self, hub: SessionHub) -> None:
        left = self._users.get(hub.session_id, 1) - 1
        if left <= 0:
            # forgetting the hub is safe: the next one reloads last_seq from the table
            self._users.pop(hub.session_id, None)
            self._hubs.pop(hub.session_id, None)
        else:
            self._users[hub.session_id] = left
