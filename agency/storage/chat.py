"""Typed reads of chat sessions and their messages."""

from __future__ import annotations

from agency.models import ChatMessage, ChatSession
from agency.storage.store import Store


async def get_session(store: Store, session_id: str) -> ChatSession | None:
    row = await store.fetch_one("SELECT * FROM chat_sessions WHERE id = ?", [session_id])
    return ChatSession.model_validate(row) if row else None


async def list_sessions(
    store: Store, owner: str | None = None, limit: int = 100
) -> list[ChatSession]:
    """Sessions, newest first; only ``owner``'s when given."""
    where, params = ("WHERE owner = ?", [owner]) if owner is not None else ("", [])
    rows = await store.fetch(
        f"SELECT * FROM chat_sessions {where} ORDER BY created_at DESC, id LIMIT {max(1, int(limit))}",
        params,
    )
    return [ChatSession.model_validate(r) for r in rows]


async def list_messages(
    store: Store, session_id: str, after_seq: int = 0, limit: int = 1000
) -> list[ChatMessage]:
    """Messages of a session with ``seq > after_seq``, in order (what a reconnect replays)."""
    rows = await store.fetch(
        f"SELECT * FROM chat_messages WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT {max(1, int(limit))}",
        [session_id, after_seq],
    )
    return [ChatMessage.model_validate(r) for r in rows]


async def last_message_seq(store: Store, session_id: str) -> int:
    """The highest message seq of a session, 0 when it has none."""
    row = await store.fetch_one(
        "SELECT coalesce(max(seq), 0) AS last FROM chat_messages WHERE session_id = ?", [session_id]
    )
    return int(row["last"]) if row else 0
