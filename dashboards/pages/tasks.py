"""Tasks: filters, one server-side page at a time kept live, drill-down, bulk cancel, submit.

The list follows the event stream: a task event patches the visible row's state at once and
reads the page again (at most twice a second), so new tasks appear and attempt, worker,
reason and duration stay current. "Pause live" holds the rows still; "« First" then reads
page 1 again. Selection is by task id, never by row position. From the keyboard: Tab reaches
the table, the arrow keys (PageUp/PageDown, Home/End) move the row, Enter opens it. The filter and the open task
are in the address (``?page=tasks&state=failed&task=ID``), so links open them and Back and
Forward walk through them.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import panel as pn

from agency.models import TASK_KINDS, TaskState

from ..context import Context
from ..data import tasks as data
from ..data.times import when
from ..keys import RowKeys, moved
from ..reasons import ReasonConfirm
from ..ui import StatusLine, off_loop, paint
from .drilldown import Drilldown
from .submit import SubmitBox

PAGE_SIZES = [50, 100, 250, 500]  # the API serves at most 500 per page
RELOAD_MIN_S = 0.5  # the list reads its page again at most this often on events
RUNNING_RELOAD_S = 5.0  # and this often while a visible row runs (its duration grows)
IDLE_RELOAD_S = 30.0  # and this often anyway, so "3 min ago" does not go stale
TIME_HINT = "YYYY-MM-DD HH:MM:SS"
#: the table's body takes the focus (Tab, a click) and shows it; the keys then move the rows
FOCUS_CSS = ".tabulator-tableholder:focus { outline: 2px solid #0969da; outline-offset: -2px; }"
SIDE_PX = 380
#: bulk cancel selects by state, worker and label only (the API has no creation-time filter)
BULK_ANY_TIME = " The time range and the date filters do not limit it: it counts tasks created at any time."  # the drill-down's least width beside the list; below it when the window is narrow


class TasksPage:
    """The task list (cursor paging, filters, sort) beside the drill-down of the clicked task."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cursors: list[str | None] = [None]  # cursor of page i; the first page has none
        self._page = 0
        self._next: str | None = None
        self._ev_seen = ctx.feeds.events.received
        self._loaded_at = 0.0
        self._dirty = False  # events arrived that the shown rows may not reflect yet
        self._reloading = False
        self._again = False
        self._applying = False  # filters set from the address: one reload, no address push
        self.selected: str | None = None  # the task id the drill-down shows
        self.cursor: str | None = None  # the task id the keyboard points at
        #: the dashboard sets this to push the address when the filter or the task changes
        self.on_address: Any = None
        w = pn.widgets
        self.f_state = w.MultiChoice(
            name="State", options=[s.value for s in TaskState], width=220, css_classes=["f-state"]
        )
        self.f_kind = w.Select(
            name="Kind", options=["", *TASK_KINDS], width=90, css_classes=["f-kind"]
        )
        self.f_worker = w.TextInput(
            name="Worker", placeholder="worker id", width=130, css_classes=["f-worker"]
        )
        self.f_label = w.TextInput(
            name="Label", placeholder="key=value", width=130, css_classes=["f-label"]
        )
        # typed, not a calendar: the picker's time fields took Tab back to its input, so the
        # focus could not leave the filter bar by the keyboard
        self.f_after = w.DatetimeInput(
            name="Created after", placeholder=TIME_HINT, width=170, css_classes=["f-after"]
        )
        self.f_before = w.DatetimeInput(
            name="Created before", placeholder=TIME_HINT, width=170, css_classes=["f-before"]
        )
        self.f_text = w.TextInput(
            name="Text", placeholder="id, reason, spec…", width=160, css_classes=["f-text"]
        )
        self.f_sort = w.Select(
            name="Sort", options=data.SORTS, value="-created_at", width=170, css_classes=["f-sort"]
        )
        self.f_size = w.Select(
            name="Rows", options=PAGE_SIZES, value=50, width=80, css_classes=["f-size"]
        )
        self._apply_address(self._session_params())
        for widget in (
            self.f_state,
            self.f_kind,
            self.f_after,
            self.f_before,
            self.f_sort,
            self.f_size,
        ):
            widget.param.watch(self._on_filter, "value")
        for text_input in (self.f_worker, self.f_label, self.f_text):
            text_input.param.watch(self._on_filter, "value")  # fires on Enter / blur, not per key
        self.table = w.Tabulator(
            pd.DataFrame(columns=data.COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=560,
            sizing_mode="stretch_width",
            pagination=None,
            layout="fit_columns",
            # the Sort control is the one order: a header click would sort only this page
            sortable=False,
            hidden_columns=data.HIDDEN,
            formatters={"created": {"type": "html"}, "cost": {"type": "html"}},
            configuration={"columnDefaults": {"tooltip": True}},
            css_classes=["tasks-table"],
            stylesheets=[FOCUS_CSS],
            # fixed widths for the short columns; command and reason share what is left
            widths={
                "id": 222,
                "state": 100,
                "kind": 50,
                "worker_id": 85,
                "attempt": 55,
                "retries": 50,
                "duration": 70,
                "cost": 62,
                "created": 80,
                "priority": 45,
                "labels": 80,
            },
            titles={"worker_id": "worker", "priority": "prio", "attempt": "try"},
        )
        paint(self.table, "state", data.STATE_COLORS)
        self.table.on_click(self._on_row)  # type: ignore[arg-type]  # Panel awaits coroutine handlers
        self.keys = RowKeys("tasks-table", self._on_key)
        self.first = w.Button(name="« First", width=80, css_classes=["page-first"])
        self.prev = w.Button(name="◀ Prev", width=80, css_classes=["page-prev"])
        self.next = w.Button(name="Next ▶", width=80, css_classes=["page-next"])
        self.refresh = w.Button(name="Refresh", width=95, css_classes=["page-refresh"])
        self.pause = w.Toggle(name="Pause live", value=False, width=120, css_classes=["live-pause"])
        self.first.on_click(self._on_first)
        self.prev.on_click(self._on_prev)
        self.next.on_click(self._on_next)
        self.refresh.on_click(self._on_refresh)
        self.pause.param.watch(self._on_pause, "value")
        self.page_info = pn.pane.HTML("", css_classes=["page-info"], margin=(12, 10))
        self.bulk = w.Button(
            name="Cancel all matching…",
            button_type="danger",
            width=180,
            css_classes=["bulk-cancel"],
        )
        self.bulk.on_click(self._on_bulk)
        self.confirm = ReasonConfirm(css_classes=["bulk-confirm"])
        self.status = StatusLine()
        self.drill = Drilldown(ctx, on_change=self.reload)
        self.drill.on_clone = self._on_clone
        self.submit_box: SubmitBox | None = None
        self.submit_slot = pn.Column(sizing_mode="stretch_width")
        self.new_task = w.Button(name="Submit a new task…", width=180, css_classes=["open-submit"])
        self.new_task.on_click(self._on_new_task)
        filters = pn.FlexBox(
            self.f_state,
            self.f_kind,
            self.f_worker,
            self.f_label,
            self.f_text,
            self.f_after,
            self.f_before,
            self.f_sort,
            self.f_size,
            flex_wrap="wrap",
            sizing_mode="stretch_width",
        )
        bar = pn.FlexBox(
            self.first,
            self.prev,
            self.next,
            self.refresh,
            self.pause,
            self.page_info,
            self.bulk,
            flex_wrap="wrap",
            align_items="center",
            sizing_mode="stretch_width",
        )
        # the confirmation sits right under the button that asked, above the table
        listing = pn.Column(
            filters,
            bar,
            self.confirm,
            self.status,
            self.table,
            sizing_mode="stretch_width",
            styles={"flex": "4 1 760px", "min-width": "0"},
        )
        side = pn.Column(
            self.drill.panel,
            pn.layout.Divider(),
            self.new_task,
            self.submit_slot,
            sizing_mode="stretch_width",
            styles={"flex": f"1 1 {SIDE_PX}px", "min-width": "0"},
        )
        self.panel = pn.Column(
            pn.pane.Markdown("## Tasks", margin=(0, 10)),
            pn.FlexBox(listing, side, flex_wrap="wrap", sizing_mode="stretch_width"),
            self.keys,
            sizing_mode="stretch_width",
            css_classes=["tasks-page"],
        )
        ctx.range.watch(self._on_range)
        pn.state.onload(self._first_load)

    async def _first_load(self) -> None:
        await self.reload()
        if self.selected:
            await self.drill.show(self.selected)

    def _on_new_task(self, _event: Any) -> None:
        """Build the submit form on demand: one less form to render with every page load."""
        if self.submit_box is None:
            self.submit_box = SubmitBox(self.ctx, self._on_submitted)
            self.submit_slot.objects = [self.submit_box.panel]
        self.new_task.visible = False

    def _on_clone(self, task: dict[str, Any]) -> None:
        self._on_new_task(None)
        assert self.submit_box is not None
        self.submit_box.fill(task)

    async def _on_submitted(self, task_id: str) -> None:
        await self.reload()
        await self.open(task_id)

    # --- the address -------------------------------------------------------------------------

    @staticmethod
    def _session_params() -> dict[str, str]:
        args = pn.state.session_args or {}
        return {
            k: (v[0].decode() if isinstance(v[0], bytes) else str(v[0]))
            for k, v in args.items()
            if v and k in data.URL_FIELDS
        }

    def _apply_address(self, params: dict[str, str]) -> None:
        got = data.from_url(params)
        self._applying = True
        try:
            self.f_state.value = got["states"]
            self.f_kind.value = got["kind"] if got["kind"] in TASK_KINDS else ""
            self.f_worker.value = got["worker"]
            self.f_label.value = got["label"]
            self.f_text.value = got["text"]
            self.f_sort.value = got["sort"]
            self.f_size.value = got["limit"]
        finally:
            self._applying = False
        self.selected, self.cursor = got["task"], None

    def address(self) -> dict[str, str]:
        """The filter and the open task as address parameters."""
        return data.url_params(self.filter(), self.selected)

    async def browse(self, params: dict[str, str]) -> None:
        """Back or Forward went to ``params``: show that filter and that task."""
        self._apply_address(params)
        self._cursors, self._page = [None], 0
        await self.reload()
        if self.selected and (self.drill.task is None or self.drill.task["id"] != self.selected):
            await self.drill.show(self.selected)

    def _pushed(self) -> None:
        if self.on_address is not None and not self._applying:
            self.on_address(self.address())

    # --- filters and paging --------------------------------------------------------------

    def filter(self) -> data.TaskFilter:
        return data.TaskFilter(
            states=tuple(self.f_state.value),
            kind=self.f_kind.value or "",
            worker=self.f_worker.value or "",
            label=self.f_label.value or "",
            # the shared time range limits what "Created after" does not
            created_after=self.ctx.range.clamp(when(self.f_after.value)),
            created_before=when(self.f_before.value),
            text=self.f_text.value or "",
            sort=self.f_sort.value,
            limit=int(self.f_size.value),
        )

    async def _on_filter(self, _event: Any) -> None:
        if self._applying:
            return
        self._cursors, self._page = [None], 0
        self._pushed()
        await self.reload()

    async def _on_range(self) -> None:
        self._cursors, self._page = [None], 0
        await self.reload()

    async def _on_first(self, _event: Any) -> None:
        self._page = 0
        await self.reload()

    async def _on_prev(self, _event: Any) -> None:
        self._page = max(0, self._page - 1)
        await self.reload()

    async def _on_next(self, _event: Any) -> None:
        if self._next is None:
            return
        del self._cursors[self._page + 1 :]
        self._cursors.append(self._next)
        self._page += 1
        await self.reload()

    async def _on_refresh(self, _event: Any) -> None:
        await self.reload()

    async def _on_pause(self, event: Any) -> None:
        self.pause.name = "Resume live" if event.new else "Pause live"
        if not event.new and self._dirty:
            await self.reload()
        self._buttons()

    async def reload(self) -> None:
        """Fetch the current page with the current filter (one request, off the loop)."""
        if self._reloading:
            self._again = True  # asked during a read (a filter changed): read once more after
            return
        self._reloading = True
        flt, cursor = self.filter(), self._cursors[self._page]
        try:
            self._dirty = False
            self._loaded_at = time.monotonic()
            page = await off_loop(data.fetch_page, self.ctx.client, flt, cursor)
        except Exception as exc:
            self.status.error(exc)
            self._again = False
            return
        finally:
            self._reloading = False
        self._show_rows(page.rows)
        self._next = page.next_cursor
        start = self._page * flt.limit
        shown = (
            f"rows {start + 1:,}-{start + len(page.rows):,}"
            if len(page.rows)
            else "no matching tasks"
        )
        rng = self.ctx.range
        self.page_info.object = (
            f'<span class="page-label" data-page="{self._page + 1}" data-rows="{len(page.rows)}" '
            f'data-range="{rng.key}">page {self._page + 1} · {shown}'
            f"{'' if self._next else ' · last page'} · created {rng.describe()}</span>"
        )
        self._buttons()
        if self._again:
            self._again = False
            await self.reload()

    def _show_rows(self, rows: pd.DataFrame) -> None:
        """Put ``rows`` in the table: the same tasks in the same order are patched cell by cell
        (the scroll position stays), otherwise replaced; then select the open task's row."""
        old = self.table.value
        if old is not None and list(old["id"]) == list(rows["id"]) and len(rows):
            patch = {
                col: [
                    (i, v)
                    for i, (a, v) in enumerate(zip(old[col], rows[col], strict=True))
                    if a != v
                ]
                for col in rows.columns
            }
            patch = {col: cells for col, cells in patch.items() if cells}
            if patch:
                self.table.patch(patch)
        else:
            self.table.value = rows
        self._select()

    def _select(self) -> None:
        df = self.table.value
        ids = list(df["id"]) if df is not None and not df.empty else []
        mark = self.cursor if self.cursor in ids else self.selected  # the keyboard's row first
        want = [ids.index(mark)] if mark in ids else []
        if self.table.selection != want:
            self.table.selection = want

    def _buttons(self) -> None:
        # on page 1, "« First" reads it again when what is shown may be stale (live paused)
        stale = self.pause.value and self._dirty
        self.first.disabled = self._page == 0 and not stale
        self.prev.disabled = self._page == 0
        self.next.disabled = self._next is None

    # --- live ----------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Apply task events from the live feed: the visible states at once, then the page
        again (new tasks, attempt, worker, reason, duration), unless live is paused."""
        items = self.ctx.feeds.events.since(self._ev_seen)
        if items:
            self._ev_seen = items[-1].n
            await self._apply_events(items)
        due = time.monotonic() - self._loaded_at
        if not self.pause.value and not self._reloading:
            if (
                (self._dirty and due >= RELOAD_MIN_S)
                or (due >= RUNNING_RELOAD_S and self._running_visible())
                or due >= IDLE_RELOAD_S
            ):
                await self.reload()
        elif self.pause.value:
            self._buttons()
        if self.drill.task is not None and not data.is_terminal(self.drill.task["state"]):
            await self.drill.follow_output()

    async def _apply_events(self, items: list[Any]) -> None:
        df = self.table.value
        index = (
            {tid: i for i, tid in enumerate(df["id"])} if df is not None and not df.empty else {}
        )
        patches: dict[int, str] = {}
        drilled = False
        for item in items:
            ev = item.data
            if ev.get("resource_type") != "task":
                continue
            self._dirty = True
            new_state = (ev.get("details") or {}).get("to") or str(
                ev.get("action", "")
            ).removeprefix("task.")
            row = index.get(ev.get("resource_id"))
            if row is not None and new_state in TaskState._value2member_map_:
                patches[row] = new_state
            if self.drill.task is not None and ev.get("resource_id") == self.drill.task["id"]:
                drilled = True
        if patches and not self.pause.value:
            self.table.patch({"state": list(patches.items())})
        if drilled:
            await self.drill.refresh()

    def _running_visible(self) -> bool:
        df = self.table.value
        return df is not None and not df.empty and bool((df["state"] == "running").any())

    async def _on_row(self, event: Any) -> None:
        if getattr(event, "column", None) == "id" and getattr(event, "value", None):
            # the id clicked, not the row number: the rows may have been replaced meanwhile
            await self.open(str(event.value))
            return
        df = self.table.value
        if df is None or event.row is None or event.row >= len(df):
            return
        await self.open(str(df.iloc[event.row]["id"]))

    async def _on_key(self, name: str) -> None:
        """Arrow keys move the highlighted row, Enter opens it in the drill-down."""
        df = self.table.value
        ids = [str(i) for i in df["id"]] if df is not None and not df.empty else []
        if not ids:
            return
        mark = self.cursor if self.cursor in ids else self.selected
        current = ids.index(mark) if mark in ids else -1
        if name == "enter":
            if current >= 0:
                await self.open(ids[current])
            return
        row = moved(name, current, len(ids))
        self.cursor = ids[row]
        self._select()
        self.keys.row = row

    async def open(self, task_id: str) -> None:
        """Show ``task_id`` in the drill-down, select its row, and put it in the address."""
        self.selected = self.cursor = task_id
        self._select()
        self._pushed()
        await self.drill.show(task_id)

    # --- bulk cancel -------------------------------------------------------------------------

    async def _on_bulk(self, _event: Any) -> None:
        flt = self.filter()
        if not (flt.states or flt.worker.strip() or flt.label.strip()):
            self.status.say(
                "Bulk cancel needs a state, worker or label filter: it never cancels everything by accident.",
                "warning",
            )
            return
        try:
            count, _ids = await off_loop(data.bulk_cancel, self.ctx.client, flt, True)
        except Exception as exc:
            self.status.error(exc)
            return
        what = data.bulk_words(flt)
        if count == 0:
            self.status.say(f"Dry run: no task matches ({what}); nothing to cancel.", "info")
            return

        async def run() -> None:
            try:
                done, _ = await off_loop(
                    data.bulk_cancel, self.ctx.client, flt, False, self.confirm.reason
                )
                self.status.say(f"Cancel requested for {done:,} tasks.", "success")
            except Exception as exc:
                self.status.error(exc)
            self._cursors, self._page = [None], 0  # back to the top: the states just changed
            await self.reload()

        self.confirm.ask(
            f"Dry run: **{count:,} tasks** match ({what}). Cancel all of them? Running ones are stopped by their workers; each ends **canceled**."
            + (BULK_ANY_TIME if flt.created_after or flt.created_before else ""),
            run,
            f"Cancel {count:,} tasks",
        )
