"""Tasks: filters, one server-side page at a time, live states, drill-down, bulk cancel, submit."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from agency.models import TASK_KINDS, TaskState

from ..context import Context
from ..data import tasks as data
from ..data.times import when
from ..ui import Confirm, StatusLine, off_loop
from .drilldown import Drilldown

PAGE_SIZES = [50, 100, 250, 500]  # the API serves at most 500 per page


class TasksPage:
    """The task list (cursor paging, filters, sort) beside the drill-down of the clicked task."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cursors: list[str | None] = [None]  # cursor of page i; the first page has none
        self._page = 0
        self._next: str | None = None
        self._ev_seen = ctx.feeds.events.received
        self._loading = False
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
        self.f_after = w.DatetimePicker(name="Created after", width=170)
        self.f_before = w.DatetimePicker(name="Created before", width=170)
        self.f_text = w.TextInput(
            name="Text", placeholder="id, reason, spec…", width=160, css_classes=["f-text"]
        )
        self.f_sort = w.Select(name="Sort", options=data.SORTS, value="-created_at", width=170)
        self.f_size = w.Select(
            name="Rows", options=PAGE_SIZES, value=50, width=80, css_classes=["f-size"]
        )
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
            css_classes=["tasks-table"],
            widths={
                "id": 230,
                "state": 130,
                "kind": 70,
                "worker_id": 110,
                "priority": 80,
                "attempt": 80,
                "created_at": 160,
            },
        )
        self.table.on_click(self._on_row)  # type: ignore[arg-type]  # Panel awaits coroutine handlers
        self.first = w.Button(name="« First", width=90, css_classes=["page-first"])
        self.prev = w.Button(name="◀ Prev", width=90, css_classes=["page-prev"])
        self.next = w.Button(name="Next ▶", width=90, css_classes=["page-next"])
        self.first.on_click(self._on_first)
        self.prev.on_click(self._on_prev)
        self.next.on_click(self._on_next)
        self.page_info = pn.pane.HTML("", css_classes=["page-info"], margin=(12, 10))
        self.bulk = w.Button(
            name="Cancel all matching…",
            button_type="danger",
            width=180,
            css_classes=["bulk-cancel"],
        )
        self.bulk.on_click(self._on_bulk)
        self.confirm = Confirm(css_classes=["bulk-confirm"])
        self.status = StatusLine()
        self.drill = Drilldown(ctx, on_change=self.reload)
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
        listing = pn.Column(
            filters,
            self.table,
            pn.Row(
                self.first, self.prev, self.next, self.page_info, pn.layout.HSpacer(), self.bulk
            ),
            self.confirm,
            self.status,
            sizing_mode="stretch_width",
        )
        side = pn.Column(
            self.drill.panel, pn.layout.Divider(), self.new_task, self.submit_slot, width=520
        )
        self.panel = pn.Column(
            pn.pane.Markdown("## Tasks", margin=(0, 10)),
            pn.Row(listing, side, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        pn.state.onload(self.reload)

    def _on_new_task(self, _event: Any) -> None:
        """Build the submit form on demand: one less form to render with every page load."""
        if not self.submit_slot.objects:
            self.submit_slot.objects = [SubmitBox(self).panel]
        self.new_task.visible = False

    # --- filters and paging --------------------------------------------------------------

    def filter(self) -> data.TaskFilter:
        return data.TaskFilter(
            states=tuple(self.f_state.value),
            kind=self.f_kind.value or "",
            worker=self.f_worker.value or "",
            label=self.f_label.value or "",
            created_after=when(self.f_after.value),
            created_before=when(self.f_before.value),
            text=self.f_text.value or "",
            sort=self.f_sort.value,
            limit=int(self.f_size.value),
        )

    async def _on_filter(self, _event: Any) -> None:
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

    async def reload(self) -> None:
        """Fetch the current page with the current filter (one request, off the loop)."""
        flt, cursor = self.filter(), self._cursors[self._page]
        try:
            page = await off_loop(data.fetch_page, self.ctx.client, flt, cursor)
        except Exception as exc:
            self.status.error(exc)
            return
        self.table.value = page.rows
        self._next = page.next_cursor
        start = self._page * flt.limit
        shown = (
            f"rows {start + 1:,}-{start + len(page.rows):,}"
            if len(page.rows)
            else "no matching tasks"
        )
        self.page_info.object = f'<span class="page-label" data-page="{self._page + 1}" data-rows="{len(page.rows)}">page {self._page + 1} · {shown}{"" if self._next else " · last page"}</span>'
        self.prev.disabled = self.first.disabled = self._page == 0
        self.next.disabled = self._next is None

    # --- live states -------------------------------------------------------------------------

    async def tick(self) -> None:
        """Apply task events from the live feed to the visible rows and the open drill-down."""
        items = self.ctx.feeds.events.since(self._ev_seen)
        if not items:
            if self.drill.task is not None and not data.is_terminal(self.drill.task["state"]):
                await self.drill.follow_output()
            return
        self._ev_seen = items[-1].n
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
            new_state = (ev.get("details") or {}).get("to") or str(
                ev.get("action", "")
            ).removeprefix("task.")
            row = index.get(ev.get("resource_id"))
            if row is not None and new_state in TaskState._value2member_map_:
                patches[row] = new_state
            if self.drill.task is not None and ev.get("resource_id") == self.drill.task["id"]:
                drilled = True
        if patches:
            self.table.patch({"state": list(patches.items())})
        if drilled:
            await self.drill.refresh()

    async def _on_row(self, event: Any) -> None:
        df = self.table.value
        if df is None or event.row is None or event.row >= len(df):
            return
        await self.drill.show(str(df.iloc[event.row]["id"]))

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
        what = ", ".join(
            filter(
                None,
                [
                    f"state in {list(flt.states)}" if flt.states else "",
                    f"worker {flt.worker}" if flt.worker else "",
                    f"label {flt.label}" if flt.label else "",
                ],
            )
        )
        if count == 0:
            self.status.say(f"Dry run: no task matches ({what}); nothing to cancel.", "info")
            return

        async def run() -> None:
            try:
                done, _ = await off_loop(data.bulk_cancel, self.ctx.client, flt, False)
                self.status.say(f"Cancel requested for {done:,} tasks.", "success")
            except Exception as exc:
                self.status.error(exc)
            self._cursors, self._page = [None], 0  # back to the top: the states just changed
            await self.reload()

        self.confirm.ask(
            f"Dry run: **{count:,} tasks** match ({what}). Cancel all of them? Running ones are stopped by their workers; each ends **canceled**.",
            run,
            f"Cancel {count:,} tasks",
        )


class SubmitBox:
    """The submit form: kind, spec (argv / prompt / JSON), labels, priority."""

    def __init__(self, page: TasksPage) -> None:
        self.page = page
        w = pn.widgets
        self.kind = w.Select(name="Kind", options=list(TASK_KINDS), value="shell", width=100)
        self.spec = w.TextAreaInput(
            name="Spec (shell: argv; agent: prompt; or JSON)",
            value="echo hello",
            height=70,
            sizing_mode="stretch_width",
            css_classes=["submit-spec"],
        )
        self.labels = w.TextInput(name="Labels", placeholder="team=ops, env=dev", width=200)
        self.priority = w.IntInput(name="Priority", value=0, start=-1000, end=1000, width=90)
        self.button = w.Button(
            name="Submit task", button_type="primary", width=130, css_classes=["submit-task"]
        )
        self.button.on_click(self._on_submit)
        self.status = StatusLine()
        self.panel = pn.Column(
            pn.pane.Markdown("#### Submit a task"),
            pn.Row(self.kind, self.labels, self.priority),
            self.spec,
            self.button,
            self.status,
            sizing_mode="stretch_width",
        )

    async def _on_submit(self, _event: Any) -> None:
        form = data.SubmitForm(
            kind=self.kind.value,
            spec=self.spec.value or "",
            labels=self.labels.value or "",
            priority=int(self.priority.value or 0),
        )
        try:
            task_id = await off_loop(data.submit, self.page.ctx.client, form)
        except Exception as exc:
            self.status.error(exc)
            return
        self.status.say(f"Submitted {task_id}.", "success")
        await self.page.reload()
        await self.page.drill.show(task_id)
