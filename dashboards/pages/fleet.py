"""The Workers page's fleet timeline: which worker ran what, and when.

One row per worker, a bar per attempt over the header's shared time range (its last
15 minutes when the range is "all": a Gantt of all time would be one blur), coloured by outcome; a bar, or its row in the table under the chart, opens the task
(``?page=tasks&task=ID``). It follows the event stream: task events make it read only what
changed since its last read (at most once a second, see ``data.fleet.FleetBars``), and the
window slides and the bars in flight grow in memory.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
import panel as pn

from ..context import Context
from ..data import fleet
from ..data.display import task_link
from ..data.timeline import FLEET_COLUMNS, FLEET_KEY, key_html
from ..ui import StatusLine, off_loop, paint
from .timeline_chart import BarChart

STATE_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "running": "#0969da"}
FLEET_READ_S = 1.0  # the timeline reads what changed at most this often
IDLE_READ_S = 30.0  # and this often with no task event at all
SLIDE_S = 1.0  # and moves its window (and grows the bars in flight) this often
TABLE_ROWS = 200  # the table under the chart lists the newest bars
TABLE_COLUMNS = ["task", "worker_id", "attempt", "kind", "command", "state", "started", "duration"]
TOOLTIPS = [
    ("task", "@task_id (attempt @attempt)"),
    ("kind", "@kind"),
    ("command", "@command"),
    ("outcome", "@state"),
    ("started", "@started UTC, took @duration"),
]


class FleetView:
    """The chart and the table of the newest bars over the shared range; the page ticks it."""

    def __init__(self, ctx: Context, status: StatusLine) -> None:
        self.ctx = ctx
        self.status = status
        self.fleet = fleet.FleetBars()
        ctx.range.watch(self._on_range)
        self.fleet_note = pn.pane.Markdown("Loading…", css_classes=["fleet-note"], margin=(0, 10))
        self.chart = BarChart(
            y="worker_id",
            columns=FLEET_COLUMNS,
            tooltips=TOOLTIPS,
            css="fleet-chart",
            link="?page=tasks&task=@task_id",
            fixed_window=True,
        )
        self.bars = pn.widgets.Tabulator(
            pd.DataFrame(columns=TABLE_COLUMNS),
            show_index=False,
            disabled=True,
            height=260,
            sizing_mode="stretch_width",
            layout="fit_columns",
            formatters={"task": {"type": "html"}},
            css_classes=["fleet-table"],
        )
        paint(self.bars, "state", STATE_COLORS)
        self._ev_seen = ctx.feeds.events.received
        self._ready = False  # the first read of the window is done
        self._dirty = False  # task events arrived since the last read
        self._busy = False
        self._reload_due = False  # the range moved during a read
        self._read_at = 0.0
        self._slid_at = 0.0
        self.panel = pn.Column(
            pn.pane.Markdown("### Who ran what, and when", margin=(0, 10)),
            self.fleet_note,
            pn.pane.HTML(key_html(FLEET_KEY), css_classes=["fleet-key"], margin=(0, 10)),
            self.chart.pane,
            self.bars,
            sizing_mode="stretch_width",
        )

    async def reload(self) -> None:
        """Read the whole window (first load, another range)."""
        self._busy = True
        try:
            self.fleet.minutes = self.ctx.range.minutes() or fleet.DEFAULT_MINUTES
            await off_loop(self.fleet.load, self.ctx.client)
            self._read_at = time.monotonic()
            self._dirty = False
            self.show_fleet()
            self._ready = True
        except Exception as exc:
            self.status.error(exc)
        finally:
            self._busy = False

    async def _on_range(self) -> None:
        if self._busy:  # a read is under way: the next tick reads the new window
            self._reload_due = True
        else:
            await self.reload()

    def show_fleet(self) -> None:
        now = datetime.now(UTC)
        df = self.fleet.frame(now)
        workers = self.fleet.workers()
        self.chart.show(df, workers)
        self._slide(now)
        newest = df.iloc[::-1].head(TABLE_ROWS).copy()
        newest["task"] = [task_link(t) for t in newest["task_id"]]
        self.bars.value = newest[TABLE_COLUMNS].reset_index(drop=True)
        cut = " (the newest shown: the window holds more)" if self.fleet.truncated else ""
        self.fleet_note.object = (
            f"{len(df)} attempt{'s' if len(df) != 1 else ''} on {len(workers)} "
            f"worker{'s' if len(workers) != 1 else ''} in the last {self._span()}{cut}. "
            "Click a bar, or a task in the table, to open it."
        )

    def _span(self) -> str:
        """The window in words: the shared range's, or the default one under "all"."""
        if self.ctx.range.minutes() is None:
            return f"{fleet.DEFAULT_MINUTES} min (the range is all time)"
        return self.ctx.range.label

    def _slide(self, now: datetime) -> None:
        end = now.timestamp() * 1000.0
        self.chart.window(end - self.fleet.minutes * 60_000.0, end)
        self.chart.grow(end)
        self._slid_at = time.monotonic()

    async def tick(self) -> None:
        """Task events mark the timeline stale; read what changed (at most once a second),
        else move the window along and grow the bars in flight (memory only)."""
        items = self.ctx.feeds.events.since(self._ev_seen)
        if items:
            self._ev_seen = items[-1].n
            if any(it.data.get("resource_type") == "task" for it in items):
                self._dirty = True
        if not self._ready or self._busy:
            return
        if self._reload_due:
            self._reload_due = False
            await self.reload()
            return
        mono = time.monotonic()
        since_read = mono - self._read_at
        # an idle fleet is read now and then too: bars that slid out of the window leave
        if (self._dirty and since_read >= FLEET_READ_S) or since_read >= IDLE_READ_S:
            self._busy, self._dirty = True, False
            try:
                await off_loop(self.fleet.update, self.ctx.client)
                self._read_at = time.monotonic()
                self.show_fleet()
            except Exception as exc:
                self.status.error(exc)
            finally:
                self._busy = False
        elif mono - self._slid_at >= SLIDE_S:
            self._slide(datetime.now(UTC))
