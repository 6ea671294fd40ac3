"""Overview: live KPI tiles from the metrics stream, throughput/latency charts, open alerts.

A JupyterLab cell shows it with ``agency_dashboards.notebook.overview()``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
from hvplot import hvPlotTabular

from ..context import Context
from ..data import overview as data
from ..ui import Confirm, StatusLine, every, off_loop, set_tile, tile

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


class OverviewPage:
    """KPI tiles (live), history charts and the open alerts with acknowledge/dismiss."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._seen = -1
        self.tiles = {key: tile(title, f"kpi-{key.replace('_', '-')}") for key, title in TILES}
        self.stream_note = pn.pane.Markdown(
            "connecting to the metrics stream…", css_classes=["stream-status"], margin=(0, 10)
        )
        self.charts = pn.Row(
            pn.pane.Markdown("Loading history…"), sizing_mode="stretch_width", min_height=280
        )
        self.alerts = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.ALERT_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=200,
            sizing_mode="stretch_width",
            hidden_columns=["id"],
            css_classes=["alerts-table"],
        )
        self.ack = pn.widgets.Button(name="Acknowledge", button_type="primary", width=130)
        self.dismiss = pn.widgets.Button(name="Dismiss", button_type="light", width=110)
        self.ack.on_click(self._on_ack)
        self.dismiss.on_click(self._on_dismiss)
        self.confirm = Confirm()
        self.status = StatusLine()
        self.panel = pn.Column(
            pn.pane.Markdown("## Overview", margin=(0, 10)),
            pn.Row(*self.tiles.values(), sizing_mode="stretch_width"),
            self.stream_note,
            pn.pane.Markdown("### Throughput and latency", margin=(0, 10)),
            self.charts,
            pn.pane.Markdown("### Open alerts", margin=(0, 10)),
            self.alerts,
            pn.Row(self.ack, self.dismiss),
            self.confirm,
            self.status,
            sizing_mode="stretch_width",
        )
        self.tick()
        pn.state.onload(self._load)

    # --- live tiles ------------------------------------------------------------------

    def tick(self) -> None:
        """Copy the newest KPI snapshot into the tiles (memory only: cheap, never blocks)."""
        feed = self.ctx.feeds.metrics
        latest = feed.latest
        self.stream_note.object = f"metrics stream: {feed.status}"
        if latest is None or feed.received == self._seen:
            return
        self._seen = feed.received
        for key, title in TILES:
            value, note = data.tile_value(latest, key)
            set_tile(self.tiles[key], title, value, note)

    # --- charts and alerts -----------------------------------------------------------

    async def _load(self) -> None:
        await self.refresh_charts()
        await self.refresh_alerts()
        every(CHART_REFRESH_MS, self.refresh_charts)

    async def refresh_charts(self) -> None:
        try:
            history = await off_loop(data.history, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        self.charts.objects = charts(history)

    async def refresh_alerts(self) -> None:
        try:
            self.alerts.value = await off_loop(data.open_alerts, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)

    def _selected_alert(self) -> dict[str, Any] | None:
        rows = self.alerts.selection
        df = self.alerts.value
        if not rows or df is None or rows[0] >= len(df):
            return None
        return dict(df.iloc[rows[0]])

    def _on_ack(self, _event: Any) -> None:
        self._alert_action("acknowledge")

    def _on_dismiss(self, _event: Any) -> None:
        self._alert_action("dismiss")

    def _alert_action(self, action: str) -> None:
        alert = self._selected_alert()
        if alert is None:
            self.status.say("Select an alert first.", "warning")
            return

        async def run() -> None:
            try:
                await off_loop(data.alert_action, self.ctx.client, alert["id"], action)
                self.status.say(f"Alert {alert['kind']} {action}d.", "success")
            except Exception as exc:
                self.status.error(exc)
            await self.refresh_alerts()

        self.confirm.ask(
            f"{action.capitalize()} the {alert['severity']} alert “{alert['message']}”? It leaves the open list; the audit trail records you did it.",
            run,
            action.capitalize(),
        )


def charts(history: pd.DataFrame) -> list[Any]:
    """Throughput and latency over time; a note instead when nothing was sampled yet."""
    if history.empty:
        return [
            pn.pane.Markdown("No KPI samples yet: the control plane writes one every few seconds.")
        ]
    throughput = hvPlotTabular(history).line(
        x="ts",
        y="tasks_per_min",
        title="Throughput (tasks/min)",
        height=260,
        responsive=True,
        ylim=(0, None),
    )
    latency_cols = [c for c in ("run_p50_ms", "run_p95_ms", "queue_p95_ms") if c in history]
    latency = hvPlotTabular(history).line(
        x="ts", y=latency_cols, title="Latency (ms)", height=260, responsive=True, ylim=(0, None)
    )
    return [
        pn.pane.HoloViews(throughput, sizing_mode="stretch_width"),
        pn.pane.HoloViews(latency, sizing_mode="stretch_width"),
    ]
