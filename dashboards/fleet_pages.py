"""Workers, Audit and Health pages: tables over the API with their few actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import panel as pn

from dashboards import ops
from dashboards.context import Context
from dashboards.tasks_data import when
from dashboards.ui import Confirm, StatusLine, every, off_loop

REFRESH_MS = 3000
BREAKER_COLORS = {"closed": "#1a7f37", "half-open": "#9a6700", "open": "#cf222e"}
STATUS_COLORS = {"healthy": "#1a7f37", "degraded": "#9a6700", "unhealthy": "#cf222e"}


def _paint(table: pn.widgets.Tabulator, column: str, colors: dict[str, str]) -> None:
    """Color a column's cells by value (breaker and health states)."""
    if table.style is not None:
        table.style.map(_color(colors), subset=[column])


def _color(colors: dict[str, str]) -> Any:
    def style(value: Any) -> str:
        color = colors.get(str(value))
        return f"color: {color}; font-weight: 600" if color else ""

    return style


class WorkersPage:
    """Each worker's health, slots, labels, heartbeat, breaker and recent failures; drain."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=ops.WORKER_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=300,
            sizing_mode="stretch_width",
            css_classes=["workers-table"],
        )
        _paint(self.table, "breaker", BREAKER_COLORS)
        _paint(
            self.table,
            "health",
            {"healthy": "#1a7f37", "unhealthy": "#cf222e", "draining": "#9a6700"},
        )
        self.drain = pn.widgets.Button(name="Drain selected…", button_type="warning", width=150)
        self.drain.on_click(self._on_drain)
        self.confirm = Confirm()
        self.status = StatusLine()
        self.panel = pn.Column(
            pn.pane.Markdown("## Workers", margin=(0, 10)),
            self.table,
            self.drain,
            self.confirm,
            self.status,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._start)

    async def _start(self) -> None:
        await self.refresh()
        every(REFRESH_MS, self.refresh)

    async def refresh(self) -> None:
        try:
            df = await off_loop(ops.workers, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        selected = self.table.selection
        self.table.value = df
        self.table.selection = [i for i in selected if i < len(df)]

    def _on_drain(self, _event: Any) -> None:
        df = self.table.value
        if not self.table.selection or df is None or df.empty:
            self.status.say("Select a worker first.", "warning")
            return
        row = df.iloc[self.table.selection[0]]

        async def run() -> None:
            try:
                await off_loop(ops.drain_worker, self.ctx.client, row["id"])
                self.status.say(f"Worker {row['id']} is draining.", "success")
            except Exception as exc:
                self.status.error(exc)
            await self.refresh()

        self.confirm.ask(
            f"Drain worker **{row['id']}** ({row['slots']} slots busy): it takes no new tasks, finishes the running ones, then leaves the pool.",
            run,
            "Drain",
        )


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
            pd.DataFrame(columns=ops.AUDIT_COLUMNS),
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
        flt = ops.AuditFilter(
            self.action.value or "",
            self.actor.value or "",
            self.resource.value or "",
            when(self.since.value),
            when(self.until.value),
        )
        try:
            self.table.value = await off_loop(ops.audit, self.ctx.client, flt)
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
            report = await off_loop(ops.verify, self.ctx.client)
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


class HealthPage:
    """The component statuses of ``GET /health``, refreshed every few seconds."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.overall = pn.pane.HTML("", css_classes=["health-overall"])
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=["component", "status", "reason", "details"]),
            show_index=False,
            disabled=True,
            sizing_mode="stretch_width",
            css_classes=["health-table"],
        )
        _paint(self.table, "status", STATUS_COLORS)
        self.status = StatusLine()
        self.panel = pn.Column(
            pn.pane.Markdown("## Health", margin=(0, 10)),
            self.overall,
            self.table,
            self.status,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._start)

    async def _start(self) -> None:
        await self.refresh()
        every(REFRESH_MS, self.refresh)

    async def refresh(self) -> None:
        try:
            overall, df = await off_loop(ops.health, self.ctx.client)
        except Exception as exc:
            self.overall.object = '<b style="color:#cf222e">control plane unreachable</b>'
            self.status.error(exc)
            return
        self.status.say("")
        color = STATUS_COLORS.get(overall, "#57606a")
        self.overall.object = f'<div style="font-size:20px">overall: <b class="health-status" style="color:{color}">{overall}</b></div>'
        self.table.value = df
