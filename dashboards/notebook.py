"""The dashboard's pages as JupyterLab cells, live and offline.

    from agency_dashboards import notebook
    notebook.setup()
    notebook.overview()    # or tasks(), chat(), task("<task id>")

Each page function returns the page as a Panel object that follows the control plane named
by ``AGENCY_URL`` / ``AGENCY_TOKEN`` in the kernel's environment (or the ``Context`` given).
``setup()`` is what makes that work in JupyterLab without a network:

- Panel and Bokeh fetch their JavaScript and CSS from a CDN unless told to inline them;
  offline a cell then shows nothing. ``setup()`` loads them inline.
- Panel's notebook comm sends the kernel back the changes it has just applied from the
  kernel. When the kernel has replaced those models meanwhile (the Overview's charts), it
  fails to rebuild them (BokehJS writes ``Line.line_color`` as a value spec, which the Python
  ``Line`` rejects) and the traceback lands in the cell. And Panel inlines a component's
  stylesheets only in a cell's first render, so a later update links the CDN again.
  ``setup()`` also runs ``notebook.js`` in the browser, which fixes both there.

One thing ``setup()`` cannot do from the kernel: JupyterLab 4.4+ sends comm messages to
kernel subshells (other threads in ipykernel 7+) unless its ``commsOverSubshells`` setting is
``disabled``; a comm's first messages can then overtake its opening and be dropped, and
Panel's handlers would run beside its periodic callbacks. ``make install`` sets that default
for this environment's JupyterLab (``jupyterlab/agency.json``).

The page functions call ``setup()`` themselves if it has not run in this kernel yet. A
runbook that charts with ``DataFrame.hvplot`` runs ``setup()`` before ``import hvplot.pandas``:
that import loads HoloViews' notebook extension, from the CDN unless ``setup()`` set it inline.
"""

from __future__ import annotations

import json
from pathlib import Path

import holoviews as hv
import panel as pn
from IPython import get_ipython
from IPython.display import publish_display_data
from panel.io.notebook import LOAD_MIME
from panel.io.resources import CDN_DIST

from .context import Context
from .pages.chat import ChatPage
from .pages.drilldown import TaskPage
from .pages.overview import OverviewPage
from .pages.tasks import TasksPage
from .ui import every

#: Panel extensions the pages use (loaded with Panel's own JavaScript).
EXTENSIONS = ("tabulator",)
#: How often a page copies what the live feeds received into its widgets (as the served app).
TICK_MS = 500
#: The browser side of ``setup()``: see the comments in the file.
CLIENT_JS = (
    (Path(__file__).with_name("notebook.js"))
    .read_text()
    .replace("__CDN_DIST__", json.dumps(CDN_DIST))
)

_done = False


def setup() -> None:
    """Load Panel into this notebook, its JavaScript and CSS inline, and run ``notebook.js``.

    Run it (or any page function) in the notebook before the first page; running it again
    loads Panel again, as ``pn.extension`` does.
    """
    global _done
    pn.extension(*EXTENSIONS, inline=True, notifications=False)
    # the class default that hvplot's extension (a subclass) loads Bokeh with on import
    hv.extension.inline = True
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        # the MIME type Panel loads its own JavaScript with, run by the pyviz extension
        bundle = {LOAD_MIME: CLIENT_JS, "application/javascript": CLIENT_JS}
        publish_display_data(bundle)  # type: ignore[no-untyped-call]  # unannotated in IPython
    _done = True


def overview(ctx: Context | None = None) -> pn.viewable.Viewable:
    """The Overview: KPI tiles live from the metrics stream, history charts, open alerts."""
    return _live(OverviewPage(_context(ctx)))


def tasks(ctx: Context | None = None) -> pn.viewable.Viewable:
    """The Tasks page: filters, paging, states live from the event stream, drill-down."""
    return _live(TasksPage(_context(ctx)))


def chat(ctx: Context | None = None) -> pn.viewable.Viewable:
    """The Chat page: sessions, history and live messages."""
    return _live(ChatPage(_context(ctx)))


def task(task_id: str, ctx: Context | None = None) -> pn.viewable.Viewable:
    """One task's drill-down: spec, attempts, timeline and output, followed live."""
    return _live(TaskPage(_context(ctx), task_id))


def _context(ctx: Context | None) -> Context:
    if not _done:
        setup()
    return ctx or Context.from_env()


def _live(page: OverviewPage | TasksPage | ChatPage | TaskPage) -> pn.viewable.Viewable:
    """The page's panel, its ``tick`` called every ``TICK_MS`` (the served app's shell does
    this for the pages of a browser session)."""
    every(TICK_MS, page.tick)
    panel: pn.viewable.Viewable = page.panel
    return panel
