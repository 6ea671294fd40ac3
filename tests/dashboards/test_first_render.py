"""The first render: what the document a browser pulls already holds, and the Overview's
charts (Bokeh figures fed new samples in place)."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from playwright.sync_api import Page, expect

from agency.testing import DashboardStack
from agency_dashboards.pages.overview_charts import EMPTY, KpiCharts


def samples(n: int = 30, p95_ms: float = 90.0) -> pd.DataFrame:
    """KPI history as ``data.overview.history`` returns it (``ts`` aware UTC)."""
    ts = pd.date_range("2026-12-01", periods=n, freq="6s", tz="UTC")
    return pd.DataFrame(
        {
            "ts": ts,
            "tasks_per_min": np.linspace(0, 120, n),
            "run_p50_ms": np.full(n, 20.0),
            "run_p95_ms": np.full(n, p95_ms),
            "queue_p95_ms": [None] * n,
        }
    )


def test_charts_take_new_samples_in_place_and_rebuild_on_a_new_unit() -> None:
    view = KpiCharts()
    view.panel.get_root(Document())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # aware timestamps made Bokeh warn on every refresh
        view.show(samples())
        figures = [pane.object for pane in view.panel]
        assert [f.title.text for f in figures] == ["Throughput", "Latency"]
        assert figures[1].yaxis[0].axis_label == "latency (ms)"
        assert [item.label.value for item in figures[1].legend[0].items] == [
            "run p50",
            "run p95",
            "queue p95",
        ]
        view.show(samples(40))
    assert [pane.object for pane in view.panel] == figures  # the same figures, new data
    assert len(figures[0].renderers[0].data_source.data["y0"]) == 40
    view.show(samples(40, p95_ms=20_000.0))  # past 10 s: the latency chart is in seconds
    assert view.panel[1].object is not figures[1]
    assert view.panel[1].object.yaxis[0].axis_label == "latency (s)"
    assert view.panel[1].object.renderers[1].data_source.data["y1"][0] == 20.0
    view.show(samples().iloc[:0])
    assert isinstance(view.panel[0], pn.pane.Markdown) and view.panel[0].object == EMPTY


def _pulled_document(page: Page, url: str, ready: str) -> str:
    """The text of the websocket frame that carried the session's document to the browser."""
    frames: list[str] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_socket)
    page.goto(url)
    expect(page.locator(ready).first).to_be_visible(timeout=30_000)
    docs = [f for f in frames if '"roots"' in f]
    assert docs, "no document frame seen"
    return docs[0]


@pytest.mark.browser
def test_tasks_rows_come_with_the_document(stack: DashboardStack, page: Page) -> None:
    # the first page is read before the browser pulls the document, not after it renders
    task = stack.client.submit("noop", {}, labels={"test": "first-render"})
    doc = _pulled_document(page, stack.page("tasks"), ".tasks-table .tabulator-row")
    assert task.id in doc


@pytest.mark.browser
def test_overview_tiles_come_with_the_document(stack: DashboardStack, page: Page) -> None:
    doc = _pulled_document(page, stack.page("overview"), ".kpi-tasks .kpi-value")
    assert "kpi-tile" in doc  # the page built on the session's next tick is in what was pulled
    expect(page.locator(".kpi-tasks .kpi-value")).to_have_text(re.compile(r"^\d[\d,]*$"))
