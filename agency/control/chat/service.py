"""Chat sessions, their messages, and one turn of a conversation with the assistant.

A session belongs to its owner (the token name that opened it). Owners read their sessions
and admins read every one (audits), but only the owner may talk in one: the assistant acts
with the owner's rights. Every message is persisted (durable) before it is published.
"""

from __future__ import annotations

import logging

from agency.control.chat.assistant import Assistant
from agency.control.chat.hub import ChatHubs, SessionHub
from agency.control.tokens import Principal
from agency.errors import Forbidden, NotFound
from agency.models import ChatMessage, ChatSession, EventIn, Role, new_id
from agency.security.masking import SecretMasker
from agency.storage import ChatRepository

log = logging.getLogger(__name__)

#: messages before a free-text question that the model gets as context
CONTEXT_MESSAGES = 20


class ChatService:
    """Sessions, messages and conversation turns; ``hubs`` fans messages out to sockets."""

    def __init__(
        self, repo: ChatRepository, assistant: Assistant, masker: SecretMasker | None = None
    ) -> None:
        self.repo = repo
        self.assistant = assistant
        self.masker = masker if masker is not None else SecretMasker()
        self.hubs = ChatHubs(repo)

    async def create_session(self, owner: str, title: str = "") -> ChatSession:
        """Open a session owned by ``owner`` (viewers too: the assistant enforces roles)."""
        session = ChatSession(id=new_id(), owner=owner, title=title)
        await self.repo.create_session(
            session,
            EventIn(
                actor=owner,
                action="chat.session_created",
                resource_type="chat_session",
                resource_id=session.id,
                details={"title": session.title},
            ),
        )
        return session

    async def sessions(
        self, who: Principal, owner: str | None = None, limit: int = 200
    ) -> list[ChatSession]:
        """The caller's sessions, newest first; admins see everyone's (or ``owner``'s)."""
        if who.role is not Role.ADMIN:
            if owner is not None and owner != who.name:
                raise Forbidden("only admins list other people's chat sessions")
            owner = who.name
        return await self.repo.sessions(owner=owner, limit=limit)

    async def get_session(self, session_id: str) -> ChatSession:
        session = await self.repo.get_session(session_id)
        if session is None:
            raise NotFound(f"no chat session {session_id!r}", details={"session_id": session_id})
        return session

    async def read(
        self, who: Principal, session_id: str, after: int = 0, limit: int = 500
    ) -> list[ChatMessage]:
        """A session's messages after seq ``after``, for its owner or an admin."""
        session = await self.get_session(session_id)
        if session.owner != who.name and who.role is not Role.ADMIN:
            raise Forbidden(
                f"chat session {session.id} belongs to {session.owner}",
                details={"session_id": session.id},
            )
        return await self.repo.messages(session_id, after, limit)

    async def join(self, who: Principal, session_id: str) -> SessionHub:
        """The hub of a session its owner talks in; give it back with ``leave``."""
        session = await self.get_session(session_id)
        if session.owner != who.name:
            # the assistant acts with the owner's rights, so only the owner may drive it
            raise Forbidden(f"chat session {session_id} belongs to {session.owner}")
        return self.hubs.acquire(session_id)

    def leave(self, hub: SessionHub) -> None:
        self.hubs.release(hub)

    async def replay(self, session_id: str, after: int, limit: int) -> list[ChatMessage]:
        """Persisted messages after seq ``after`` (what a reconnecting socket missed)."""
        return await self.repo.messages(session_id, after, limit)

    async def converse(self, hub: SessionHub, who: Principal, content: str) -> None:
        """One turn: persist and publish ``content``, then the assistant's reply.

        A reply the model streams is published piece by piece as ``delta`` frames first;
        the whole reply is persisted whatever broke, with the failure told in it.
        """
        # secrets are masked before anything stores, echoes or answers the message
        content, masked = self.masker.mask(content)
        async with hub.lock:
            mine = await hub.append("user", content, who.name)
            history: list[ChatMessage] = []
            streams = self.assistant.streams(content)
            if streams:
                history = await self.repo.recent(hub.session_id, mine.seq, CONTEXT_MESSAGES)
            pieces: list[str] = []
            try:
                async for piece in self.assistant.respond(who, content, history):
                    pieces.append(piece)
                    if streams:
                        hub.publish(
                            {
                                "type": "delta",
                                "role": "assistant",
                                "reply_to": mine.seq,
                                "content": piece,
                            }
                        )
            except Exception as exc:  # the reply must be persisted whatever broke
                log.exception("chat assistant failed")
                pieces.append(f"\n\nThe assistant failed: {type(exc).__name__}")
            await hub.append(
                "assistant",
                "".join(pieces),
                "assistant",
                details={"on_behalf_of": who.name, "reply_to": mine.seq},
            )
            if masked:  # after the reply, which clients expect right after their message
                await hub.append(
                    "system",
                    f"Masked before storing your message: {', '.join(masked)}. "
                    "Keep secrets in the keystore (agency secret set) and refer to them by name.",
                    "system",
                    details={"reply_to": mine.seq, "masked": masked},
                )
