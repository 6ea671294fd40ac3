"""The timeline charts: horizontal bars over a datetime axis, drawn with Bokeh.

Each chart keeps one figure and one ``ColumnDataSource`` for its life: new data replaces the
source's columns, and bars still in flight grow with ``grow`` (a patch of their right edge),
so a live update sends a few numbers to the browser, never a new figure. Bokeh's JavaScript
comes from the Panel server with the page, so nothing is fetched from a CDN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import (
    ColumnDataSource,
    DataRange1d,
    DatetimeTicker,
    FactorRange,
    HoverTool,
    OpenURL,
    Range1d,
    TapTool,
)
from bokeh.plotting import figure

ROW_PX = 34  # height of one row of bars
FRAME_PX = 70  # axis and toolbar around the rows


class BarChart:
    """Bars ``left``..``right`` (ms since the epoch) on rows ``y``; ``columns`` are the data
    the hover and tap read. ``link`` (a URL template such as ``?page=tasks&task=@task_id``)
    makes a tap on a bar open that address in the same tab; ``fixed_window`` shows the range
    ``window`` sets (a sliding time window) rather than one fitted to the bars."""

    def __init__(
        self,
        y: str,
        columns: list[str],
        tooltips: list[tuple[str, str]],
        css: str,
        link: str | None = None,
        fixed_window: bool = False,
    ) -> None:
        # ``css`` also names the data source, so a browser test can read the bars it holds
        self.y = y
        self.columns = columns
        self.source = ColumnDataSource({c: [] for c in columns}, name=css)
        self.y_range = FactorRange(range_padding=0.1)
        # a fixed window is moved by ``window``; otherwise the range follows the bars
        self.x_range: Range1d | DataRange1d = (
            Range1d(start=0, end=1) if fixed_window else DataRange1d(range_padding=0.05)
        )
        self.fig = figure(
            x_axis_type="datetime",
            x_range=self.x_range,
            y_range=self.y_range,
            height=FRAME_PX + ROW_PX,
            sizing_mode="stretch_width",
            tools="xpan,xwheel_zoom,reset",
            toolbar_location="right",
            x_axis_label="time (UTC)",
        )
        self.fig.hbar(
            y=y,
            left="left",
            right="right",
            height=0.6,
            color="color",
            source=self.source,
            fill_alpha=0.8,
            line_color="white",
            line_width=0.5,
        )
        self.fig.add_tools(HoverTool(tooltips=tooltips))
        if link is not None:
            self.fig.add_tools(TapTool(callback=OpenURL(url=link, same_tab=True)))
        self.fig.ygrid.grid_line_color = None
        # a narrow drill-down fits few time labels: more overlap into one another
        self.fig.xaxis[0].ticker = DatetimeTicker(desired_num_ticks=4)
        self._open: list[int] = []
        self._rows = 0
        # the class goes on a wrapper: a Bokeh pane renders the figure itself, without it
        self.pane = pn.Column(
            pn.pane.Bokeh(self.fig, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            css_classes=[css],
        )

    def _apply(self, change: Callable[[], None]) -> None:
        """Run ``change`` to the figure's models where Bokeh allows it: a served document may
        only change under its lock, which a next-tick callback holds (a page's ``onload``
        coroutine does not); elsewhere (no server session) at once."""
        doc = self.fig.document
        if doc is not None and doc.session_context is not None:
            doc.add_next_tick_callback(change)
        else:
            change()

    def show(self, frame: pd.DataFrame, rows: list[str] | None = None) -> None:
        """Replace the bars with ``frame``'s; ``rows`` orders the rows (default: as they come)."""
        factors = rows if rows is not None else list(dict.fromkeys(frame[self.y]))
        data: dict[str, Any] = {c: list(frame[c]) for c in self.columns}
        self._open = [i for i, v in enumerate(frame["open"]) if bool(v)] if len(frame) else []
        self._rows = len(frame)

        def change() -> None:
            # the first row on top: Bokeh lists factors bottom up
            self.y_range.factors = list(reversed(factors))
            self.fig.height = FRAME_PX + ROW_PX * max(1, len(factors))
            self.source.data = data

        self._apply(change)

    def grow(self, now_ms: float) -> None:
        """Extend the bars still in flight to ``now_ms`` (a patch of those rows only)."""
        rows = list(self._open)
        if rows:

            def change() -> None:
                if len(self.source.data.get(self.y, [])) == self._rows:
                    self.source.patch({"right": [(i, now_ms) for i in rows]})

            self._apply(change)

    def window(self, start_ms: float, end_ms: float) -> None:
        """Show the x range ``start_ms``..``end_ms``."""

        def change() -> None:
            self.x_range.start, self.x_range.end = start_ms, end_ms

        self._apply(change)

    @property
    def bars(self) -> int:
        return len(self.source.data.get(self.y, []))
