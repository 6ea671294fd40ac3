"""``ChatRepository``: chat sessions and their numbered messages."""

from __future__ import annotations

from agency.models import ChatMessage, ChatSession, EventIn
from agency.storage.ops import Insert
from agency.storage.repository import Repository, row_limit, where


class ChatRepository(Repository):
    """The ``chat_sessions`` and ``chat_messages`` tables."""

    async def get_session(self, session_id: str) -> ChatSession | None:
        return await self._one(
            ChatSession, "SELECT * FROM chat_sessions WHERE id = ?", [session_id]
        )

    async def sessions(self, owner: str | None = None, limit: int = 100) -> list[ChatSession]:
        """Sessions, newest first (ties by id, descending); only ``owner``'s when given."""
        clause, params = where(owner=owner)
        return await self._all(
            ChatSession,
            f"SELECT * FROM chat_sessions {clause} ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, row_limit(limit)],
        )

    async def messages(
        self, session_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[ChatMessage]:
        """Messages of a session with ``seq > after_seq``, in order (what a reconnect replays)."""
        return await self._all(
            ChatMessage,
            "SELECT * FROM chat_messages WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            [session_id, after_seq, row_limit(limit)],
        )

    async def recent(self, session_id: str, before: int, limit: int = 20) -> list[ChatMessage]:
        """The last ``limit`` messages with ``seq < before``, in order (a model's context)."""
        return await self._all(
            ChatMessage,
            "SELECT * FROM (SELECT * FROM chat_messages WHERE session_id = ? AND seq < ?"
            " ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            [session_id, before, row_limit(limit)],
        )

    async def last_seq(self, session_id: str) -> int:
        """The highest message seq of a session, 0 when it has none."""
        row = await self.store.fetch_one(
            "SELECT coalesce(max(seq), 0) AS last FROM chat_messages WHERE session_id = ?",
            [session_id],
        )
        return int(row["last"]) if row else 0

    async def create_session(self, session: ChatSession, *events: EventIn) -> None:
        await self._write(Insert("chat_sessions", [session.model_dump(mode="python")]), *events)

    async def add_message(self, message: ChatMessage, *events: EventIn) -> None:
        """Store one message (its seq is the session's next) with its events, in one write."""
        await self._write(Insert("chat_messages", [message.model_dump(mode="python")]), *events)
