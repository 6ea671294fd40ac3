"""The frame of the dashboard: the pages in tabs, the session's tick, the refusal page.

``app.py`` serves ``build()``. Pages are built the first time their tab opens (``?page=tasks``
opens one directly), so the first render costs one page's requests, not eight. In a served
session even that page is built after the HTML has gone out (on the session's next tick,
while the browser evaluates the JavaScript); the document the browser then pulls has it.
One periodic callback per browser session copies what the live feeds received into the
visible pages; it reads memory only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import panel as pn
from panel.io.callbacks import PeriodicCallback

from .address import AddressBar
from .connection import HostRefused
from .context import Context
from .header import Header
from .pages.audit import AuditPage
from .pages.chat import ChatPage
from .pages.health import HealthPage
from .pages.overview import OverviewPage
from .pages.queries import QueriesPage
from .pages.schedules import SchedulesPage
from .pages.tasks import TasksPage
from .pages.workers import WorkersPage
from .pages.workflows import WorkflowsPage
from .timerange import PARAM

PAGES: dict[str, tuple[str, Callable[[Context], Any]]] = {
    "overview": ("Overview", OverviewPage),
    "tasks": ("Tasks", TasksPage),
    "chat": ("Chat", ChatPage),
    "workers": ("Workers", WorkersPage),
    "audit": ("Audit", AuditPage),
    "queries": ("Queries", QueriesPage),
    "schedules": ("Schedules", SchedulesPage),
    "workflows": ("Workflows", WorkflowsPage),
    "health": ("Health", HealthPage),
}
TICK_MS = 500
#: pages whose first load (their ``pn.state.onload``) is one quick read that fills them: when
#: a session opens on one, the read runs before the browser pulls the document, so the rows
#: come with the page instead of in a round trip after it renders. The Overview is not one:
#: its tiles are filled from memory, and its charts and tables would only hold the page back
PRELOAD = frozenset({"tasks"})


class Dashboard:
    """All pages of one browser session, in tabs; each built on first view."""

    def __init__(self, ctx: Context, start: str = "overview", defer: bool = False) -> None:
        self.ctx = ctx
        self.keys = list(PAGES)
        self.pages: dict[str, Any] = {}
        self.slots = {key: pn.Column(sizing_mode="stretch_width") for key in self.keys}
        self.tabs = pn.Tabs(
            *[(PAGES[k][0], self.slots[k]) for k in self.keys],
            dynamic=True,
            sizing_mode="stretch_width",
            css_classes=["pages"],
            active=self.keys.index(start) if start in self.keys else 0,
        )
        # the address follows the open page and its state; Back/Forward come back through it
        self.address = AddressBar(query=_session_query())
        ctx.range.load(dict(parse_qsl(self.address.query)).get(PARAM))  # ?range= of a deep link
        ctx.range.watch(self._on_range)
        self.address.on_browse = self._on_browse
        self._browsing = False
        self.tabs.param.watch(self._on_tab, "active")
        self._ticking = False
        if defer:
            # the frame goes out first: the open page is built on the session's next tick,
            # while the browser loads and parses the JavaScript, and the document the browser
            # then pulls has the page (a pull waits for the callback: it holds the lock)
            doc = pn.state.curdoc

            async def open_page() -> None:
                await self._open_before_pull(doc)

            pn.state.execute(pn.io.with_lock(open_page))
        else:
            self._open()

    async def _open_before_pull(self, doc: Any) -> None:
        """``_open``, and for a ``PRELOAD`` page its first loads too: the browser has not
        pulled the document yet, so the page's first data comes with it."""
        self._open()
        if self.keys[self.tabs.active] not in PRELOAD:
            return
        # Panel keeps a session's pending ``pn.state.onload`` callbacks here until the browser
        # says it rendered; run them now instead (should Panel move them, they run on load)
        pending = getattr(pn.state, "_onload", {}).pop(doc, [])
        for callback, _threaded in pending:
            result = callback()
            if inspect.isawaitable(result):
                await result

    def _open(self) -> None:
        """Build the page the session opened on and put its state in the address."""
        key = self.keys[self.tabs.active]
        self._build(key)
        if self.tabs.active != 0:  # another page than the first: the address names it
            page = self.pages[key]
            self._push(key, page.address() if hasattr(page, "address") else {})

    def _build(self, key: str) -> None:
        if key not in self.pages:
            page = PAGES[key][1](self.ctx)
            self.pages[key] = page
            self.slots[key].objects = [page.panel]
            if hasattr(page, "on_address"):  # pages whose state is in the address
                page.on_address = lambda params, k=key: self._push(k, params)

    def _on_tab(self, event: Any) -> None:
        key = self.keys[event.new]
        self._build(key)
        if not self._browsing:
            page = self.pages[key]
            self._push(key, page.address() if hasattr(page, "address") else {})

    def _push(self, key: str, params: dict[str, str]) -> None:
        if self.keys[self.tabs.active] == key:
            self.address.push({"page": key, **self.ctx.range.params(), **params})

    def _on_range(self) -> None:
        """The shared time range moved: the address keeps it (a new history entry)."""
        if self._browsing:
            return
        key = self.keys[self.tabs.active]
        page = self.pages[key]
        self._push(key, page.address() if hasattr(page, "address") else {})

    def _on_browse(self, params: dict[str, str]) -> None:
        """Back or Forward: open the address's page, and let it show the address's state."""
        key = params.get("page", "overview")
        if key not in self.keys:
            return
        self._browsing = True
        try:
            self.tabs.active = self.keys.index(key)
        finally:
            self._browsing = False
        browse = getattr(self.pages[key], "browse", None)

        async def show() -> None:
            self._browsing = True  # the range's watchers read again; no new history entry
            try:
                await self.ctx.range.set(params.get(PARAM))
            finally:
                self._browsing = False
            if browse is not None:
                await browse(params)

        pn.state.execute(show)

    async def tick(self) -> None:
        """Feed the built pages from the live feeds; skipped if the previous tick still runs."""
        if self._ticking:
            return
        self._ticking = True
        try:
            for page in list(self.pages.values()):
                tick = getattr(page, "tick", None)
                if tick is None:
                    continue
                result = tick()
                if inspect.isawaitable(result):
                    await result
        finally:
            self._ticking = False


def _session_query() -> str:
    """The query string the session was opened with (the address bar's starting value)."""
    args = pn.state.session_args or {}
    return urlencode(
        {k: (v[0].decode() if isinstance(v[0], bytes) else str(v[0])) for k, v in args.items() if v}
    )


def refused(message: str) -> pn.viewable.Viewable:
    """The page shown instead of the dashboard when the backend host is not allowed."""
    return pn.Column(
        pn.pane.Markdown("# agency"),
        pn.pane.Alert(
            f"**The dashboard refuses to connect.** {message}",
            alert_type="danger",
            css_classes=["host-refused"],
        ),
    )


def build(start: str | None = None) -> pn.viewable.Viewable:
    """The whole dashboard for the current session (or an error page saying what is wrong)."""
    pn.extension("tabulator", notifications=True)
    try:
        ctx = Context.from_env(pn.state.user)
    except HostRefused as exc:
        return refused(str(exc))
    if start is None:
        arg = (pn.state.session_args or {}).get("page", [b"overview"])[0]
        start = arg.decode() if isinstance(arg, bytes) else str(arg)
    doc = pn.state.curdoc
    dash = Dashboard(ctx, start, defer=doc is not None and doc.session_context is not None)
    header = Header(ctx)
    dash.pages["_header"] = header  # ticked with the pages: the alert badge stays live
    # a background callback: Panel's busy state (no indicator shows it here) is not
    # touched twice a second per session
    PeriodicCallback(callback=dash.tick, period=TICK_MS, background=True).start()
    return pn.Column(header.panel, dash.tabs, dash.address, sizing_mode="stretch_width")
