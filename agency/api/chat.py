"""Chat with the operator assistant: sessions, their messages, and the WebSocket.

WebSocket ``/api/v1/chat/ws/{session_id}[?after=N][&token=T]``: the server first replays every
message with ``seq > N``, then for each ``{"content": "..."}`` the client sends it persists
the message with the session's next sequence number (durable before it is echoed), sends it
back, then the assistant's reply the same way. Frames the server sends:

- ``{"type": "message", "seq", "role", "content", "created_at"}``: a persisted message;
- ``{"type": "delta", "role": "assistant", "reply_to": seq, "content"}``: a piece of a reply
  the language model is still streaming; the ``message`` frame with the whole text follows;
- ``{"type": "error", "error": {"code", "message", "details"}}``: a refused message.

Close codes: 4401 no or bad token, 4403 not the session's owner, 4404 unknown session,
1003 binary frame, 1007 not JSON, 1008 bad ``content`` or ``after``, 1009 message over
``AGENCY_MAX_BODY_BYTES``, 1013 the server is starting/stopping or the socket fell behind.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Query, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from agency.api.deps import Principal, api_metrics_of, authenticate, get_plane, plane_of, require
from agency.api.handlers import ERROR_RESPONSES
from agency.control import ControlPlane
from agency.control.chat.hub import CloseFrame, Outgoing, SessionHub, error_frame, message_frame
from agency.errors import AgencyError, Forbidden, NotFound, RateLimited, Unauthorized
from agency.models import ChatMessage, ChatSession, ChatSessionCreated, Role, SessionCreate

router = APIRouter(prefix="/api/v1/chat", tags=["chat"], responses=ERROR_RESPONSES)

REPLAY_PAGE = 500


@router.post("/session", status_code=201, response_model=ChatSessionCreated)
async def create_session(
    body: SessionCreate | None = None,
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> ChatSessionCreated:
    """Open a chat session owned by the caller (viewers too: the assistant enforces roles)."""
    session = await plane.chat.create_session(who.name, body.title if body else "")
    return ChatSessionCreated(
        session_id=session.id,
        owner=session.owner,
        title=session.title,
        created_at=session.created_at.isoformat(),
    )


@router.get("/sessions", response_model=list[ChatSession])
async def list_sessions(
    owner: str | None = Query(
        None, max_length=200, description="Admins: only this owner's sessions."
    ),
    limit: int = Query(200, ge=1, le=1000),
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[ChatSession]:
    """The caller's sessions, newest first; admins see everyone's (or ``owner``'s)."""
    return await plane.chat.sessions(who, owner=owner, limit=limit)


@router.get("/session/{session_id}/messages", response_model=list[ChatMessage])
async def list_messages(
    session_id: str,
    after: int = Query(0, ge=0, description="Only messages with a greater sequence number."),
    limit: int = Query(500, ge=1, le=5000),
    plane: ControlPlane = Depends(get_plane),
    who: Principal = Depends(require(Role.VIEWER)),
) -> list[ChatMessage]:
    """A session's messages in sequence order."""
    return await plane.chat.read(who, session_id, after, limit)


@router.websocket("/ws/{session_id}")
async def chat_socket(websocket: WebSocket, session_id: str) -> None:
    """The live chat; see the module docstring for frames and close codes."""
    # accept first: a close before accepting is an HTTP 403 with no code or reason for the client
    await websocket.accept()
    try:
        plane = plane_of(websocket)
        who = authenticate(websocket)
        after = int(websocket.query_params.get("after", "0"))
        if after < 0:
            raise ValueError(after)
        hub = await plane.chat.join(who, session_id)
    except ValueError:
        await _close(websocket, 1008, "after must be a non-negative integer")
        return
    except AgencyError as exc:
        await _close(websocket, _close_code(exc), exc.message)
        return
    await ChatConnection(websocket, plane, who, hub).run(after)


def _close_code(exc: AgencyError) -> int:
    if isinstance(exc, Unauthorized | RateLimited):
        return 4401 if isinstance(exc, Unauthorized) else 4429
    if isinstance(exc, Forbidden):
        return 4403
    if isinstance(exc, NotFound):
        return 4404
    return 1013 if exc.status == 503 else 1011


def _offer(queue: asyncio.Queue[Outgoing], item: Outgoing) -> None:
    """Queue a frame for this socket; when it is full a close still gets in, other frames not."""
    if queue.full():
        if not isinstance(item, CloseFrame):
            return
        queue.get_nowait()
    queue.put_nowait(item)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    # the close reason must fit in a control frame (123 bytes)
    if (
        websocket.application_state is WebSocketState.CONNECTED
        and websocket.client_state is WebSocketState.CONNECTED
    ):
        await websocket.close(code, reason.encode()[:120].decode(errors="ignore"))


class ChatConnection:
    """One socket on one session: a sender task drains the queue, this task reads and replies."""

    def __init__(
        self, websocket: WebSocket, plane: ControlPlane, who: Principal, hub: SessionHub
    ) -> None:
        self.ws = websocket
        self.plane = plane
        self.who = who
        self.hub = hub
        self.queue = hub.listen()

    async def run(self, after: int) -> None:
        gauge = api_metrics_of(self.ws).ws_clients.labels(endpoint="chat")
        gauge.inc()
        sender = asyncio.create_task(self._send_loop(after))
        try:
            await self._receive_loop()
        finally:
            self.hub.listeners.discard(self.queue)
            self.plane.chat.leave(self.hub)
            gauge.dec()
            if not sender.done():
                # let queued frames (an error, then its close) go out before stopping
                _offer(self.queue, CloseFrame(1000, "bye"))
                try:
                    await asyncio.wait_for(sender, timeout=5.0)
                except (TimeoutError, asyncio.CancelledError):
                    sender.cancel()

    async def _send_loop(self, after: int) -> None:
        last = after
        try:
            # listening started before this read, so nothing is lost between replay and live
            while True:
                page = await self.plane.chat.replay(self.hub.session_id, last, REPLAY_PAGE)
                for m in page:
                    await self.ws.send_json(message_frame(m))
                    last = m.seq
                if len(page) < REPLAY_PAGE:
                    break
            while True:
                frame: Outgoing = await self.queue.get()
                if isinstance(frame, CloseFrame):
                    await _close(self.ws, frame.code, frame.reason)
                    return
                if frame.get("type") == "message":
                    if frame["seq"] <= last:
                        continue  # already replayed from the table
                    last = frame["seq"]
                await self.ws.send_json(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client left; it resumes with ?after=<last seq it saw>

    def _refuse(self, code: int, frame: dict[str, Any], reason: str) -> None:
        # this socket only, after what is already queued for it
        self.hub.listeners.discard(self.queue)
        _offer(self.queue, frame)
        _offer(self.queue, CloseFrame(code, reason))

    async def _receive_loop(self) -> None:
        limit = self.plane.settings.max_body_bytes
        while True:
            msg = await self.ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            text = msg.get("text")
            if text is None:
                self._refuse(
                    1003,
                    error_frame("bad_request", "send JSON text frames"),
                    "binary frames are not accepted",
                )
                return
            if len(text.encode()) > limit:
                self._refuse(
                    1009,
                    error_frame(
                        "payload_too_large", f"message over the {limit}-byte limit", limit=limit
                    ),
                    "message too large",
                )
                return
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                self._refuse(
                    1007, error_frame("bad_request", f"not JSON: {exc.msg}"), "message is not JSON"
                )
                return
            content = data.get("content") if isinstance(data, dict) else None
            if not isinstance(content, str) or not content.strip():
                self._refuse(
                    1008,
                    error_frame("validation_error", 'send {"content": "<non-empty text>"}'),
                    "content missing or not a string",
                )
                return
            try:
                self.plane.gate.charge(self.who, self.ws.url.path)
            except RateLimited as exc:
                _offer(self.queue, error_frame(exc.code, exc.message, **exc.details))
                continue
            await self.plane.chat.converse(self.hub, self.who, content)
