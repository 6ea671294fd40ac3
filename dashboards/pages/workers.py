"""Workers: each worker's health, slots, labels, heartbeat, breaker and recent failures; drain;
and the fleet timeline: one row per worker, a bar per attempt over a window (default the last
15 minutes), coloured by outcome. A bar (or its row in the table under the chart) opens the
task. The timeline follows the event stream: task events make it read what changed since its
last read (at most once a second), and bars still in flight grow on every tick.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import workers as data
from ..ui import REFRESH_MS, Confirm, StatusLine, every, off_loop, paint
from .fleet import FleetView

BREAKER_COLORS = {"closed": "#1a7f37", "half-open": "#9a6700", "open": "#cf222e"}
HEALTH_COLORS = {"healthy": "#1a7f37", "unhealthy": "#cf222e", "draining": "#9a6700"}


class WorkersPage:
    """Each worker's health, slots, labels, heartbeat, breaker and recent failures; drain."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.WORKER_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=300,
            sizing_mode="stretch_width",
            css_classes=["workers-table"],
        )
        paint(self.table, "breaker", BREAKER_COLORS)
        paint(self.table, "health", HEALTH_COLORS)
        self.drain = pn.widgets.Button(name="Drain selected…", button_type="warning", width=150)
        self.reason = pn.widgets.TextInput(
            placeholder="reason (recorded in the audit trail)",
            width=320,
            css_classes=["drain-reason"],
        )
        self.drain.on_click(self._on_drain)
        self.confirm = Confirm()
        self.status = StatusLine()
        self.fleet = FleetView(ctx, self.status)
        self.panel = pn.Column(
            pn.pane.Markdown("## Workers", margin=(0, 10)),
            self.table,
            pn.Row(self.reason, self.drain),
            self.confirm,
            self.status,
            self.fleet.panel,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._start)

    async def _start(self) -> None:
        await self.refresh()
        await self.fleet.reload()
        every(REFRESH_MS, self.refresh)

    async def tick(self) -> None:
        await self.fleet.tick()

    async def refresh(self) -> None:
        try:
            df = await off_loop(data.workers, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        old = self.table.value
        picked = [
            str(old.iloc[i]["id"]) for i in self.table.selection if old is not None and i < len(old)
        ]
        self.table.value = df
        # the selection follows the worker's id, not the row position
        ids = list(df["id"]) if not df.empty else []
        self.table.selection = [ids.index(w) for w in picked if w in ids]

    def _on_drain(self, _event: Any) -> None:
        df = self.table.value
        if not self.table.selection or df is None or df.empty:
            self.status.say("Select a worker first.", "warning")
            return
        row = df.iloc[self.table.selection[0]]
        reason = (self.reason.value or "").strip()

        async def run() -> None:
            try:
                await off_loop(data.drain_worker, self.ctx.client, row["id"], reason)
                self.reason.value = ""
                self.status.say(f"Worker {row['id']} is draining.", "success")
            except Exception as exc:
                self.status.error(exc)
            await self.refresh()

        self.confirm.ask(
            f"Drain worker **{row['id']}** ({row['slots']} slots busy): it takes no new tasks, finishes the running ones, then leaves the pool.",
            run,
            "Drain",
        )
