"""The conversation tab of an agent task's drill-down: usage and cost, the transcript with
tool calls folded and errors highlighted (growing while the task runs), what changed in the
workspace beside it, and a follow-up box that continues the same session."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any

import panel as pn

from agency.models.runs import ChangesOut

from ..context import Context
from ..data import conversation as data
from ..data import tasks as tasks_data
from ..ui import StatusLine, off_loop

ROLE_COLOURS = {
    "assistant": "#ffffff",
    "tool": "#f6f8fa",
    "system": "#f3f0ff",
    "result": "#eef9f0",
    "error": "#ffebe9",
}
CSS = """
.conv-item { border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 8px; margin: 3px 0;
  font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.conv-item .conv-role { font-weight: 600; color: #57606a; margin-right: 6px; }
.conv-item.conv-error { border-color: #cf222e; border-left: 4px solid #cf222e; color: #82071e; }
.conv-tool summary { cursor: pointer; }
.conv-tool .conv-detail { margin: 4px 0 0 12px; font-family: monospace; color: #24292f; }
"""


def entry_html(entry: data.Entry) -> str:
    """One entry; a tool call is a closed ``<details>`` (click to see its input and output)."""
    classes = ["conv-item", f"conv-{entry.role}"]
    if entry.error and entry.role != "error":
        classes.append("conv-error")
    style = f"background:{ROLE_COLOURS.get(entry.role, '#fff')}"
    error = f"\n⚠ {html.escape(entry.error)}" if entry.error and entry.error != entry.text else ""
    head = f'<span class="conv-role">{html.escape(entry.role)}</span>{html.escape(entry.title)}'
    if entry.role == "tool":
        pending = " …" if entry.pending else ""
        summary = f"{head}{pending} <span>{html.escape(entry.text)}</span>{error}"
        return (
            f'<details class="{" ".join([*classes, "conv-tool"])}" style="{style}">'
            f"<summary>{summary}</summary>"
            f'<div class="conv-detail">{html.escape(entry.detail)}</div></details>'
        )
    return f'<div class="{" ".join(classes)}" style="{style}">{head}\n{html.escape(entry.text)}{error}</div>'


def entries_html(entries: list[data.Entry]) -> str:
    if not entries:
        return '<div class="conv-empty">No transcript yet.</div>'
    return "".join(entry_html(e) for e in entries)


class Conversation:
    """The agent part of the drill-down; ``update`` reads the transcript when it has grown."""

    def __init__(
        self, ctx: Context, on_submitted: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        self.ctx = ctx
        self.on_submitted = on_submitted
        self.task: dict[str, Any] | None = None
        self.session_id: str | None = None
        self._count = -1
        self._busy = False
        self.usage = pn.pane.Markdown("", css_classes=["agent-usage"])
        self.feed = pn.pane.HTML(
            "",
            css_classes=["conversation"],
            stylesheets=[CSS],
            styles={"max-height": "420px", "overflow": "auto"},
            sizing_mode="stretch_width",
        )
        self.files = pn.pane.Markdown("", css_classes=["changes-files"])
        self.diff = pn.pane.Str(
            "",
            css_classes=["changes-diff"],
            styles={"max-height": "260px", "overflow": "auto", "background": "#f6f8fa"},
            sizing_mode="stretch_width",
        )
        self.prompt = pn.widgets.TextAreaInput(
            placeholder="The next prompt, in the same session…",
            rows=3,
            sizing_mode="stretch_width",
            css_classes=["follow-up-input"],
        )
        self.send = pn.widgets.Button(
            name="Send follow-up", button_type="primary", css_classes=["follow-up-send"]
        )
        self.send.on_click(self._on_send)
        self.status = StatusLine(css_classes=["follow-up-status"])
        self.panel = pn.Column(
            self.usage,
            # stacked, not side by side: the drill-down column is narrow
            "**Conversation**",
            self.feed,
            "**What changed**",
            self.files,
            self.diff,
            self.prompt,
            self.send,
            self.status,
            sizing_mode="stretch_width",
        )

    def reset(self) -> None:
        self._count = -1
        self.feed.object = ""
        self.files.object = self.diff.object = ""
        self.status.say("")

    async def update(self, task: dict[str, Any], usage: str, session_id: str | None) -> None:
        """Show ``task``'s conversation; the changes are read once the task has ended."""
        self.task, self.session_id = task, session_id
        self.usage.object = f"**Usage** · {usage}" if usage else "**Usage** · none reported yet"
        if self._busy:
            return
        self._busy = True
        try:
            ended = tasks_data.is_terminal(task["state"])
            view = await off_loop(data.load, self.ctx.client, task["id"], ended)
            if view.count != self._count:
                self._count = view.count
                self.feed.object = entries_html(view.entries)
            if view.changes is not None:
                self.show_changes(view.changes)
        except Exception as exc:
            self.status.error(exc)
        finally:
            self._busy = False

    def show_changes(self, changes: ChangesOut) -> None:
        if not changes.files and not changes.diff:
            self.files.object = changes.error or "No changes recorded."
            self.diff.object = ""
            return
        self.files.object = "\n".join(f"- `{f.path}` {f.status}" for f in changes.files)
        cut = f"\n… cut at {changes.cap_bytes:,} bytes" if changes.truncated else ""
        self.diff.object = changes.diff + cut

    async def _on_send(self, _event: Any) -> None:
        if self.task is None:
            return
        try:
            made = await off_loop(
                data.follow_up, self.ctx.client, self.task, self.session_id, self.prompt.value
            )
        except Exception as exc:
            self.status.error(exc)
            return
        self.prompt.value = ""
        self.status.say(
            f"Follow-up submitted as task {made.id} in session {made.spec.get('session_id')}.",
            "success",
        )
        if self.on_submitted is not None:
            await self.on_submitted(made.id)
