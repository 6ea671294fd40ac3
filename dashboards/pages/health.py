"""Health: the component statuses of ``GET /health``, refreshed every few seconds."""

from __future__ import annotations

import pandas as pd
import panel as pn

from ..context import Context
from ..data import health as data
from ..ui import REFRESH_MS, StatusLine, every, off_loop, paint

STATUS_COLORS = {"healthy": "#1a7f37", "degraded": "#9a6700", "unhealthy": "#cf222e"}


class HealthPage:
    """The component statuses of ``GET /health``, refreshed every few seconds."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.overall = pn.pane.HTML("", css_classes=["health-overall"])
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.HEALTH_COLUMNS),
            show_index=False,
            disabled=True,
            sizing_mode="stretch_width",
            css_classes=["health-table"],
        )
        paint(self.table, "status", STATUS_COLORS)
        self.details = pn.pane.HTML("", css_classes=["health-details"], margin=(4, 10))
        self.status = StatusLine()
        self.panel = pn.Column(
            pn.pane.Markdown("## Health", margin=(0, 10)),
            self.overall,
            self.table,
            pn.pane.Markdown("#### Details", margin=(0, 10)),
            self.details,
            self.status,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._start)

    async def _start(self) -> None:
        await self.refresh()
        every(REFRESH_MS, self.refresh)

    async def refresh(self) -> None:
        try:
            overall, df, details = await off_loop(data.health_with_details, self.ctx.client)
        except Exception as exc:
            self.overall.object = '<b style="color:#cf222e">control plane unreachable</b>'
            self.status.error(exc)
            return
        self.status.say("")
        color = STATUS_COLORS.get(overall, "#57606a")
        self.overall.object = f'<div style="font-size:20px">overall: <b class="health-status" style="color:{color}">{overall}</b></div>'
        self.table.value = df
        if self.details.object != details:
            self.details.object = details
