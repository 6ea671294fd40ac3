"""Audit: the audit trail newest first, page by page, searched by action, actor, resource
and time; the selected event's details as a table; verify the hash chain."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import audit as data
from ..data.display import kv_table
from ..data.times import when
from ..ui import StatusLine, off_loop


class AuditPage:
    """Search the audit trail (newest first, paged); verify the hash chain."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        w = pn.widgets
        self.action = w.TextInput(name="Action", placeholder="task.canceled", width=160)
        self.actor = w.TextInput(name="Actor", width=130)
        self.resource = w.TextInput(name="Resource", placeholder="task/<id>", width=200)
        # typed, not a calendar: the calendar's time fields took Tab back (focus trapped)
        self.since = w.DatetimeInput(name="Since", placeholder="YYYY-MM-DD HH:MM:SS", width=170)
        self.until = w.DatetimeInput(name="Until", placeholder="YYYY-MM-DD HH:MM:SS", width=170)
        self.search = w.Button(
            name="Search", button_type="primary", width=100, css_classes=["audit-search"]
        )
        self.verify = w.Button(name="Verify chain", width=120, css_classes=["audit-verify"])
        self.result = pn.pane.Alert(
            "", alert_type="light", visible=False, css_classes=["verify-result"]
        )
        self.table = w.Tabulator(
            pd.DataFrame(columns=data.AUDIT_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=480,
            sizing_mode="stretch_width",
            formatters={"resource_id": {"type": "html"}},
            css_classes=["audit-table"],
        )
        self.newer = w.Button(name="« Newer", width=100, css_classes=["audit-newer"])
        self.older = w.Button(name="Older »", width=100, css_classes=["audit-older"])
        self.page_info = pn.pane.HTML("", css_classes=["audit-page-info"], margin=(10, 10))
        self.detail = pn.pane.HTML("", css_classes=["audit-detail"], margin=(4, 10))
        self.status = StatusLine()
        # cursors of the pages shown so far: [None (newest), cursor of page 2, ...]
        self._cursors: list[str | None] = [None]
        self._next: str | None = None
        self._details: list[dict[str, Any]] = []
        self.search.on_click(self._on_search)
        self.verify.on_click(self._on_verify)
        self.newer.on_click(self._on_newer)
        self.older.on_click(self._on_older)
        self.table.param.watch(self._on_select, "selection")
        self.panel = pn.Column(
            pn.pane.Markdown("## Audit", margin=(0, 10)),
            pn.FlexBox(
                self.action,
                self.actor,
                self.resource,
                self.since,
                self.until,
                self.search,
                self.verify,
                sizing_mode="stretch_width",
            ),
            self.result,
            self.status,
            pn.Row(self.newer, self.older, self.page_info),
            self.table,
            pn.pane.Markdown("#### Selected event", margin=(0, 10)),
            self.detail,
            sizing_mode="stretch_width",
        )
        ctx.range.watch(self._on_range)
        pn.state.onload(self.refresh)

    def _filter(self) -> data.AuditFilter:
        return data.AuditFilter(
            self.action.value or "",
            self.actor.value or "",
            self.resource.value or "",
            self.ctx.range.clamp(when(self.since.value)),  # the header's shared time range
            when(self.until.value),
        )

    async def refresh(self) -> None:
        """Show the page the cursor stack points at (the first: the newest events)."""
        try:
            got = await off_loop(data.audit, self.ctx.client, self._filter(), self._cursors[-1])
        except Exception as exc:
            self.status.error(exc)
            return
        self.status.say("")
        self.table.selection = []
        self.table.value = got.rows
        self._details, self._next = got.details, got.next_cursor
        self.detail.object = "Select an event to see its details."
        number = len(self._cursors)
        self.newer.disabled = number == 1
        self.older.disabled = got.next_cursor is None
        self.page_info.object = (
            f'<span class="audit-page" data-page="{number}" data-range="{self.ctx.range.key}">'
            f"page {number}, newest first · {len(got.rows):,} events"
            f"{' · oldest page' if got.next_cursor is None else ''} · {self.ctx.range.describe()}</span>"
        )

    async def _on_range(self) -> None:
        await self._on_search(None)

    async def _on_search(self, _event: Any) -> None:
        self._cursors = [None]
        await self.refresh()

    async def _on_older(self, _event: Any) -> None:
        if self._next is not None:
            self._cursors.append(self._next)
            await self.refresh()

    async def _on_newer(self, _event: Any) -> None:
        if len(self._cursors) > 1:
            self._cursors.pop()
            await self.refresh()

    def _on_select(self, event: Any) -> None:
        rows = event.new or []
        if not rows or rows[0] >= len(self._details):
            return
        row = self.table.value.iloc[rows[0]]
        self.detail.object = (
            f"<div><b>#{row['seq']}</b> {row['action']} by {row['actor']} at {row['ts']}</div>"
            + kv_table(self._details[rows[0]], "kv-table audit-kv")
        )

    async def _on_verify(self, _event: Any) -> None:
        self.result.object, self.result.alert_type, self.result.visible = (
            "Verifying the chain…",
            "info",
            True,
        )
        try:
            report = await off_loop(data.verify, self.ctx.client)
        except Exception as exc:
            self.result.object, self.result.alert_type = (
                f"Verification failed to run: {exc}",
                "danger",
            )
            return
        if report.get("ok"):
            self.result.object, self.result.alert_type = (
                f"Chain verified: {report.get('checked', 0):,} events, every hash matches.",
                "success",
            )
        else:
            self.result.object = f"Chain BROKEN at event {report.get('first_bad_seq')}: {report.get('reason')} ({report.get('checked', 0):,} checked)."
            self.result.alert_type = "danger"
