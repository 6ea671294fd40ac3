"""Overview: live KPI tiles from the metrics stream, throughput/latency charts, the open
alerts (live, from the dashboard's alert board) and the alert history.

A JupyterLab cell shows it with ``agency_dashboards.notebook.overview()``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import overview as data
from ..ui import Confirm, StatusLine, every, off_loop, set_tile, tile
from .overview_charts import KpiCharts

TILES = [
    ("tasks", "Tasks"),
    ("tasks_per_min", "Tasks / min"),
    ("success_rate", "Success rate"),
    ("run_p95_ms", "p95 latency"),
    ("active_workers", "Active workers"),
    ("queue_depth", "Queue depth"),
    ("open_breakers", "Open breakers"),
    ("cost_hour", "Agent cost / hour"),
    ("tokens_hour", "Agent tokens / hour"),
]
CHART_REFRESH_MS = 30_000  # samples come every few seconds; each read is an audited query run
HISTORY_CHECK_MS = 1000  # the alert history is read again this soon after the board moves
HTML_COLUMNS = {"resource": {"type": "html"}}


class OverviewPage:
    """KPI tiles (live), history charts, open alerts with acknowledge/dismiss, alert history."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._seen = -1
        self._alerts_version = -1
        self._selected_id: str | None = None
        self._history_due = True
        self.tiles = {key: tile(title, f"kpi-{key.replace('_', '-')}") for key, title in TILES}
        self.stream_note = pn.pane.Markdown(
            "connecting to the metrics stream…", css_classes=["stream-status"], margin=(0, 10)
        )
        self.kpi_charts = KpiCharts()
        self.charts = self.kpi_charts.panel
        self.alerts = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.ALERT_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=200,
            sizing_mode="stretch_width",
            hidden_columns=["id"],
            formatters=HTML_COLUMNS,
            css_classes=["alerts-table"],
        )
        self.alerts.param.watch(self._on_select, "selection")
        self.reason = pn.widgets.TextInput(
            placeholder="reason (recorded in the audit trail)",
            width=320,
            css_classes=["alert-reason"],
        )
        self.ack = pn.widgets.Button(
            name="Acknowledge", button_type="primary", width=130, css_classes=["alert-ack"]
        )
        self.dismiss = pn.widgets.Button(
            name="Dismiss", button_type="light", width=110, css_classes=["alert-dismiss"]
        )
        self.ack.on_click(self._on_ack)
        self.dismiss.on_click(self._on_dismiss)
        self.confirm = Confirm(css_classes=["alert-confirm"])
        self.status = StatusLine()
        self.history = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.HISTORY_COLUMNS),
            show_index=False,
            disabled=True,
            height=220,
            sizing_mode="stretch_width",
            formatters=HTML_COLUMNS,
            css_classes=["alert-history"],
        )
        # the tables join the page once it is shown: each costs a tenth of a second of the
        # server's time to first byte, and the tiles are what an operator looks at first
        self.alerts_slot = pn.Column(
            pn.pane.Markdown("Loading alerts…", margin=(0, 10)), sizing_mode="stretch_width"
        )
        self.history_slot = pn.Column(sizing_mode="stretch_width")
        self.panel = pn.Column(
            pn.pane.Markdown("## Overview", margin=(0, 10)),
            # a FlexBox wraps the tiles: seven in a row would push a 1024 px page sideways
            pn.FlexBox(*self.tiles.values(), sizing_mode="stretch_width"),
            self.stream_note,
            pn.pane.Markdown("### Throughput and latency", margin=(0, 10)),
            self.charts,
            pn.pane.Markdown("### Open alerts", margin=(0, 10)),
            self.alerts_slot,
            pn.Row(self.reason, self.ack, self.dismiss),
            self.confirm,
            self.status,
            pn.pane.Markdown("### Alert history (acknowledged and dismissed)", margin=(0, 10)),
            self.history_slot,
            sizing_mode="stretch_width",
        )
        self.tick()
        ctx.range.watch(self.refresh_charts)  # the header's shared time range
        pn.state.onload(self._load)

    # --- live tiles and alerts ---------------------------------------------------------

    def tick(self) -> None:
        """Copy the newest KPI snapshot into the tiles and, when the alert board moved, the
        open alerts into the table (memory only; the history is read again within a second)."""
        feed = self.ctx.feeds.metrics
        latest = feed.latest
        self.stream_note.object = f"metrics stream: {feed.status}"
        if latest is not None and feed.received != self._seen:
            self._seen = feed.received
            for key, title in TILES:
                value, note = data.tile_value(latest, key)
                set_tile(self.tiles[key], title, value, note)
        board = self.ctx.feeds.alerts
        if board.version != self._alerts_version:
            self._alerts_version = board.version
            self.show_alerts(data.alert_frame(list(board.open), data.ALERT_COLUMNS))
            self._history_due = True

    def show_alerts(self, df: pd.DataFrame) -> None:
        """New rows, with the selection kept on the same alert id (none if it left)."""
        keep = self._selected_id
        self.alerts.value = df
        ids = list(df["id"]) if not df.empty else []
        self.alerts.selection = [ids.index(keep)] if keep in ids else []
        self._selected_id = keep if keep in ids else None

    def _on_select(self, event: Any) -> None:
        df = self.alerts.value
        rows = event.new or []
        if df is None or not rows or rows[0] >= len(df):
            self._selected_id = None
        else:
            self._selected_id = str(df.iloc[rows[0]]["id"])

    # --- charts and alerts -----------------------------------------------------------

    async def _load(self) -> None:
        self.alerts_slot.objects = [self.alerts]
        self.history_slot.objects = [self.history]
        await self.refresh_charts()
        every(CHART_REFRESH_MS, self.refresh_charts)
        every(HISTORY_CHECK_MS, self._history_if_due)

    async def _history_if_due(self) -> None:
        if self._history_due:
            self._history_due = False
            await self.refresh_history()

    async def refresh_charts(self) -> None:
        try:
            history = await off_loop(data.history, self.ctx.client, self.ctx.range.minutes())
        except Exception as exc:
            self.status.error(exc)
            return
        self.kpi_charts.show(history)

    async def refresh_history(self) -> None:
        try:
            self.history.value = await off_loop(data.alert_history, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)

    def _selected_alert(self) -> dict[str, Any] | None:
        df = self.alerts.value
        if self._selected_id is None or df is None or df.empty:
            return None
        match = df[df["id"] == self._selected_id]
        return dict(match.iloc[0]) if not match.empty else None

    def _on_ack(self, _event: Any) -> None:
        self._alert_action("acknowledge")

    def _on_dismiss(self, _event: Any) -> None:
        self._alert_action("dismiss")

    def _alert_action(self, action: str) -> None:
        alert = self._selected_alert()
        if alert is None:
            self.status.say("Select an alert first.", "warning")
            return
        reason = (self.reason.value or "").strip()

        async def run() -> None:
            try:
                await off_loop(data.alert_action, self.ctx.client, alert["id"], action, reason)
                self.status.say(f"Alert {alert['kind']} {action}d.", "success")
                self.reason.value = ""
            except Exception as exc:
                self.status.error(exc)
            self._selected_id = None  # the next alert is not picked for the operator
            self.ctx.feeds.alerts.changed()

        why = f" Reason: “{reason}”." if reason else " No reason given."
        self.confirm.ask(
            f"{action.capitalize()} the {alert['severity']} alert “{alert['message']}”? "
            f"It leaves the open list; the audit trail records that "
            f"{self.ctx.operator or 'you'} did it.{why}",
            run,
            action.capitalize(),
        )
