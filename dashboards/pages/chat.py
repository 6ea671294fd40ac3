"""Chat: sessions list, history, live messages over the WebSocket, resume after a drop.

Replies render as Markdown (code blocks, tables; raw HTML stays text), numbers are rounded
(``data.chat.message_markdown``), task ids open the task; Enter sends, and the feed follows
the newest message.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from ..chat_link import ChatLink
from ..context import Context
from ..data import chat as data
from ..ui import StatusLine, off_loop

ROLE_COLORS = {"user": "#ddf4ff", "assistant": "#f6f8fa", "system": "#fff8c5"}
MAX_SHOWN = 500  # messages kept on the page; older ones stay in the history API


def bubble(message: dict[str, Any]) -> pn.pane.Markdown:
    """One message as a Markdown pane, tagged with its role for tests and styling."""
    role = str(message.get("role", "system"))
    return pn.pane.Markdown(
        data.message_markdown(message),
        renderer_options={"html": False},  # what the server says is text, never markup
        css_classes=["chat-msg", f"chat-{role}"],
        styles={"background": ROLE_COLORS.get(role, "#fff"), "border-radius": "6px"},
        sizing_mode="stretch_width",
        margin=(4, 6),
    )


class ChatPage:
    """Pick or start a session; its history, then live messages from a ``ChatLink``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.link: ChatLink | None = None
        w = pn.widgets
        self.session = w.Select(name="Session", options={}, width=320, css_classes=["chat-session"])
        self.title = w.TextInput(name="New session title", placeholder="incident 42", width=200)
        self.create = w.Button(name="New session", width=120, css_classes=["chat-new"])
        self.input = w.TextInput(
            name="Message (Enter sends)",
            placeholder="/help, /status, /tasks running, /sql select …",
            sizing_mode="stretch_width",
            css_classes=["chat-input"],
        )
        self.send = w.Button(
            name="Send", button_type="primary", width=90, css_classes=["chat-send"]
        )
        # view_latest and auto-scroll keep the newest message in view as replies arrive
        self.feed = pn.Column(
            sizing_mode="stretch_width",
            height=520,
            scroll=True,
            view_latest=True,
            auto_scroll_limit=100_000,
            css_classes=["chat-feed"],
            styles={"border": "1px solid #d0d7de", "border-radius": "6px"},
        )
        self.link_status = pn.pane.Markdown("", css_classes=["chat-status"])
        self.status = StatusLine()
        self.create.on_click(self._on_create)
        self.send.on_click(self._on_send)
        self.input.param.watch(self._on_send, "enter_pressed")
        self.session.param.watch(self._on_session, "value")
        self.panel = pn.Column(
            pn.pane.Markdown("## Chat", margin=(0, 10)),
            pn.Row(self.session, self.title, self.create),
            self.feed,
            pn.Row(self.input, self.send, sizing_mode="stretch_width"),
            self.link_status,
            self.status,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._load)
        pn.state.on_session_destroyed(lambda _ctx: self.link.close() if self.link else None)

    async def _load(self) -> None:
        try:
            self.session.options = await off_loop(data.sessions, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)

    async def _on_create(self, _event: Any) -> None:
        try:
            sid = await off_loop(data.new_session, self.ctx.client, self.title.value)
            self.session.options = await off_loop(data.sessions, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        self.session.value = sid

    async def _on_session(self, event: Any) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None
        self.feed.objects = []
        if not event.new:
            return
        try:
            past = await off_loop(data.history, self.ctx.client, event.new)
        except Exception as exc:
            self.status.error(exc)
            return
        self._append(past)
        last = max((int(m.get("seq", 0)) for m in past), default=0)
        self.link = ChatLink(self.ctx.client, event.new, after=last)

    async def _on_send(self, _event: Any) -> None:
        text = (self.input.value_input or self.input.value or "").strip()
        if not text or self.link is None:
            self.status.say(
                "Pick or start a session, then type a message." if self.link is None else "",
                "warning",
            )
            return
        self.input.value, self.input.value_input = "", ""
        try:
            await off_loop(self.link.send, text)
        except Exception as exc:
            self.input.value = text  # give the text back so nothing typed is lost
            self.status.error(exc)

    def tick(self) -> None:
        """Show messages the link received since the last tick (memory only)."""
        if self.link is None:
            return
        self.link_status.object = f"socket: {self.link.status} · last seq {self.link.last_seq} · reconnects {self.link.reconnects}"
        self._append(self.link.drain())

    def _append(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        self.feed.objects = (list(self.feed.objects) + [bubble(m) for m in messages])[-MAX_SHOWN:]
