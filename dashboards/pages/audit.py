"""Audit: search the audit trail by action, actor, resource and time; verify the hash chain."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import audit as data
from ..data.times import when
from ..ui import StatusLine, off_loop


class AuditPage:
    """Search the audit trail by action, actor, resource and time; verify the hash chain."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        w = pn.widgets
        self.action = w.TextInput(name="Action", placeholder="task.canceled", width=160)
        self.actor = w.TextInput(name="Actor", width=130)
        self.resource = w.TextInput(name="Resource", placeholder="task/<id>", width=200)
        self.since = w.DatetimePicker(
            name="Since", value=datetime.now() - timedelta(minutes=15), width=170
        )
        self.until = w.DatetimePicker(name="Until", width=170)
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
            height=480,
            sizing_mode="stretch_width",
            css_classes=["audit-table"],
        )
        self.status = StatusLine()
        self.search.on_click(self._on_search)
        self.verify.on_click(self._on_verify)
        self.panel = pn.Column(
            pn.pane.Markdown("## Audit", margin=(0, 10)),
            pn.Row(
                self.action,
                self.actor,
                self.resource,
                self.since,
                self.until,
                self.search,
                self.verify,
            ),
            self.result,
            self.status,
            self.table,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self.refresh)

    async def refresh(self) -> None:
        flt = data.AuditFilter(
            self.action.value or "",
            self.actor.value or "",
            self.resource.value or "",
            when(self.since.value),
            when(self.until.value),
        )
        try:
            self.table.value = await off_loop(data.audit, self.ctx.client, flt)
            self.status.say("")
        except Exception as exc:
            self.status.error(exc)

    async def _on_search(self, _event: Any) -> None:
        await self.refresh()

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
