"""The Overview's two history charts, throughput and latency, drawn with Bokeh directly.

They were hvPlot charts; HoloViews spent 0.1 to 0.6 s of the server's event loop on each
pair (range computation over its dimension tree), once per Overview session on load and again
every refresh, which every other session of the process waited behind. A Bokeh figure with
the same lines, axes, hover and tools costs a few milliseconds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, PrintfTickFormatter
from bokeh.models.annotations import Legend, LegendItem
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from ..data import overview as data

HEIGHT = 260
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


class KpiCharts:
    """The two charts of one Overview, built on the first samples and then fed new ones.

    A refresh replaces the lines' data only; the figures are built again only when the
    series or the latency unit change (a series appears, or a peak passes 10 s).
    """

    def __init__(self) -> None:
        self.panel = pn.Row(
            pn.pane.Markdown("Loading history…"), sizing_mode="stretch_width", min_height=280
        )
        self._shape: tuple[Any, ...] | None = None
        self._sources: list[ColumnDataSource] = []

    def show(self, history: pd.DataFrame) -> None:
        """Draw ``history`` (``data.history``): a note while it is empty."""
        if history.empty:
            self._shape, self._sources = None, []
            self.panel.objects = [pn.pane.Markdown(EMPTY)]
            return
        series = _series(history)
        shape = tuple((tuple(names), opts) for _frame, names, opts in series)
        if shape != self._shape:
            self._shape = shape
            figures = [line_chart(frame, names, **opts) for frame, names, opts in series]
            self._sources = [source for _fig, source in figures]
            self.panel.objects = [
                pn.pane.Bokeh(fig, sizing_mode="stretch_width", min_width=380)
                for fig, _source in figures
            ]
            return
        for source, (frame, names, _opts) in zip(self._sources, series, strict=True):
            source.data = _columns(frame, names)


EMPTY = "No KPI samples yet: the control plane writes one every few seconds."


def charts(history: pd.DataFrame) -> list[Any]:
    """Throughput and latency over time; a note instead when nothing was sampled yet."""
    view = KpiCharts()
    view.show(history)
    return list(view.panel.objects)


def _series(history: pd.DataFrame) -> list[tuple[pd.DataFrame, list[str], dict[str, Any]]]:
    """Each chart's frame, columns and look: throughput, then latency in ms or s."""
    frame, names, unit = data.latency_frame(history)
    return [
        (
            history,
            [c for c in ("tasks_per_min",) if c in history],
            {"title": "Throughput", "ylabel": "tasks finished per minute", "yformat": "%.0f"},
        ),
        (
            frame,
            names,
            {
                "title": "Latency",
                "ylabel": f"latency ({unit})",
                "yformat": "%.1f" if unit == "s" else "%.0f",
                "legend": True,
            },
        ),
    ]


def line_chart(
    frame: pd.DataFrame,
    names: list[str],
    *,
    title: str,
    ylabel: str,
    yformat: str,
    legend: bool = False,
) -> tuple[Any, ColumnDataSource]:
    """One line per column of ``names`` against ``ts``, from 0 up, with a hover per line;
    the figure and the source its lines read."""
    source = ColumnDataSource(_columns(frame, names))
    fig = figure(
        title=title,
        x_axis_type="datetime",
        x_axis_label="time",
        y_axis_label=ylabel,
        y_range=DataRange1d(start=0),
        height=HEIGHT,
        sizing_mode="stretch_width",
        tools=TOOLS,
        toolbar_location="right",
    )
    fig.yaxis.formatter = PrintfTickFormatter(format=yformat)
    items: list[Any] = []
    for i, name in enumerate(names):
        color = Category10_10[i % len(Category10_10)]
        line: Any = fig.line("ts", f"y{i}", source=source, line_width=2, color=color)
        items.append(LegendItem(label=name, renderers=[line]))
        fig.add_tools(
            HoverTool(
                renderers=[line],
                tooltips=[("time", "@ts{%F %T}"), (name, f"@y{i}{{{yformat}}}")],
                formatters={"@ts": "datetime", f"@y{i}": "printf"},
            )
        )
    if legend:
        fig.add_layout(Legend(items=items, location="top_left"))
    return fig, source


def _columns(frame: pd.DataFrame, names: list[str]) -> dict[str, Any]:
    """The source's columns: ``ts`` (naive UTC: Bokeh warns on every conversion of an aware
    one) and ``y0``, ``y1``… as floats (a missing sample is a gap)."""
    ys = {
        f"y{i}": pd.to_numeric(frame[n], errors="coerce").astype(float) for i, n in enumerate(names)
    }
    return {"ts": pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(None), **ys}
