"""The dashboard's header: the backend, the shared time range, who is acting, and the
open-alert badge.

The time-range picker sets ``ctx.range`` (see ``timerange``): the Tasks list, the Audit trail
and the Overview's charts read it, and the address keeps it (``?range=1h``); the session's
address sets it when the page opens (``Dashboard``).

The badge follows the process-wide ``AlertBoard`` (memory only, in the session's tick) and a
notification pops up when an alert opens while the page is open; alerts open before the page
loaded only count in the badge.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from .context import Context
from .timerange import LABELS

SEVERITY_NOTE = {"critical": "error", "warning": "warning", "info": "info"}


class Header:
    """The header row of one browser session; ``tick`` keeps the badge and notifications."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._version = -1
        self._known: set[str] | None = None  # ids seen by this session; None before the first read
        self.title = pn.pane.HTML(
            f'<b style="font-size:20px">agency</b> '
            f'<span style="color:#57606a">· {html.escape(ctx.backend.url)}</span>',
            margin=(8, 12),
        )
        self.operator = pn.pane.HTML(
            f'<span class="operator-name" title="every action is audited as the token '
            f'acting for this name">acting as <b>{html.escape(ctx.operator or "-")}</b></span>',
            margin=(12, 12),
        )
        self.badge = pn.pane.HTML(badge_html(0), margin=(10, 12), css_classes=["alert-badge"])
        self.range = pn.widgets.RadioButtonGroup(
            options={label: key for key, label in LABELS.items()},
            value=ctx.range.key,
            button_type="light",
            margin=(8, 12),
            css_classes=["time-range"],
        )
        self.range.param.watch(self._on_range, "value")
        ctx.range.watch(self._follow_range)
        self.panel = pn.Row(
            self.title,
            pn.layout.HSpacer(),
            pn.pane.HTML('<span style="color:#57606a">time range</span>', margin=(14, 0, 0, 12)),
            self.range,
            self.badge,
            self.operator,
            sizing_mode="stretch_width",
            styles={"border-bottom": "1px solid #d0d7de"},
        )
        self.tick()

    async def _on_range(self, event: object) -> None:
        await self.ctx.range.set(getattr(event, "new", None))

    def _follow_range(self) -> None:
        """The range moved elsewhere (Back, Forward): the picker shows it."""
        if self.range.value != self.ctx.range.key:
            self.range.value = self.ctx.range.key

    def tick(self) -> None:
        board = self.ctx.feeds.alerts
        if board.version == self._version:
            return
        self._version = board.version
        rows = list(board.open)
        self.badge.object = badge_html(len(rows), board.error)
        ids = {str(a.get("id")) for a in rows}
        if self._known is not None:
            for alert in rows:
                if str(alert.get("id")) not in self._known:
                    notify(alert)
        self._known = (self._known or set()) | ids


def badge_html(count: int, error: str | None = None) -> str:
    """The badge: the open-alert count (red when any), a link to the Overview's alerts."""
    color = "#cf222e" if count else "#57606a"
    tip = f"alerts unreadable: {html.escape(error)}" if error else "open alerts"
    return (
        f'<a href="?page=overview" class="alert-count" data-count="{count}" title="{tip}" '
        f'style="text-decoration:none;color:#fff;background:{color};border-radius:12px;'
        f'padding:3px 10px;font:600 13px sans-serif">alerts {count}</a>'
    )


def notify(alert: dict[str, Any]) -> None:
    """A toast for a new alert (when the session has notifications)."""
    notes = pn.state.notifications
    if notes is None:
        return
    kind = SEVERITY_NOTE.get(str(alert.get("severity")), "warning")
    text = f"New {alert.get('severity', '')} alert: {alert.get('message', '')}"
    getattr(notes, kind)(html.escape(text), duration=10_000)
