"""Queries: saved queries with revisions; edit, run (table, and a chart where it fits), save,
and the run history."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import queries as data
from ..ui import StatusLine, off_loop


class QueriesPage:
    """Pick a saved query (or a new one), edit its SQL, run it, save a new revision."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._stored_sql: str | None = None  # the picked query's SQL as saved
        w = pn.widgets
        self.pick = w.Select(
            name="Saved query", options={"(new query)": ""}, width=300, css_classes=["query-pick"]
        )
        self.name = w.TextInput(name="Name", width=220, css_classes=["query-name"])
        self.description = w.TextInput(name="Description", sizing_mode="stretch_width")
        self.sql = w.TextAreaInput(
            name="SQL (read-only; $name parameters)",
            value="select state, count(*) as n from tasks group by state order by n desc",
            height=130,
            sizing_mode="stretch_width",
            css_classes=["query-sql"],
        )
        self.params = w.TextInput(
            name="Parameters", placeholder="state=running, limit=10", width=260
        )
        self.run = w.Button(name="Run", button_type="primary", width=90, css_classes=["query-run"])
        self.save = w.Button(name="Save", width=90, css_classes=["query-save"])
        self.result_info = pn.pane.Markdown("", css_classes=["query-result-info"])
        self.result = w.Tabulator(
            pd.DataFrame(),
            show_index=False,
            disabled=True,
            height=300,
            sizing_mode="stretch_width",
            pagination="local",
            page_size=50,
            css_classes=["query-result"],
        )
        self.chart = pn.Column(sizing_mode="stretch_width")
        self.revisions = w.Tabulator(
            pd.DataFrame(columns=data.REVISION_COLUMNS),
            show_index=False,
            disabled=True,
            height=160,
            sizing_mode="stretch_width",
            css_classes=["query-revisions"],
        )
        self.runs = w.Tabulator(
            pd.DataFrame(columns=data.RUN_COLUMNS),
            show_index=False,
            disabled=True,
            height=160,
            sizing_mode="stretch_width",
            css_classes=["query-runs"],
        )
        self.status = StatusLine()
        self.pick.param.watch(self._on_pick, "value")
        self.run.on_click(self._on_run)
        self.save.on_click(self._on_save)
        self.panel = pn.Column(
            pn.pane.Markdown("## Queries", margin=(0, 10)),
            pn.Row(self.pick, self.name, self.description, sizing_mode="stretch_width"),
            self.sql,
            pn.Row(self.params, self.run, self.save),
            self.status,
            self.result_info,
            self.result,
            self.chart,
            pn.Row(
                pn.Column(
                    pn.pane.Markdown("#### Revisions"), self.revisions, sizing_mode="stretch_width"
                ),
                pn.Column(pn.pane.Markdown("#### Runs"), self.runs, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._load)

    async def _load(self, select: str | None = None) -> None:
        try:
            options = await off_loop(data.saved, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        self.pick.options = {"(new query)": "", **options}
        if select is not None:
            self.pick.value = select

    async def _on_pick(self, event: Any) -> None:
        self._stored_sql = None
        if not event.new:
            self.name.value, self.description.value = "", ""
            self.revisions.value, self.runs.value = (
                pd.DataFrame(columns=data.REVISION_COLUMNS),
                pd.DataFrame(columns=data.RUN_COLUMNS),
            )
            return
        try:
            query = await off_loop(data.get, self.ctx.client, event.new)
        except Exception as exc:
            self.status.error(exc)
            return
        self.name.value, self.description.value, self.sql.value = (
            query["name"],
            query.get("description", ""),
            query["sql"],
        )
        self._stored_sql = self.sql.value_input = str(query["sql"])
        await self.refresh_history()

    async def refresh_history(self) -> None:
        if not self.pick.value:
            return
        try:
            self.revisions.value = await off_loop(data.revisions, self.ctx.client, self.pick.value)
            self.runs.value = await off_loop(data.runs, self.ctx.client, self.pick.value)
        except Exception as exc:
            self.status.error(exc)

    async def _on_run(self, _event: Any) -> None:
        try:
            params = data.parse_params(self.params.value or "")
            result = await off_loop(
                data.run,
                self.ctx.client,
                self.pick.value or None,
                self.editor_text(),
                params,
                self._stored_sql,
            )
        except Exception as exc:
            # nothing else runs in its place: the old rows go, the refusal says why
            self.result.value = pd.DataFrame()
            self.chart.objects = []
            self.result_info.object = ""
            self.status.error(exc)
            return
        df = result.rows
        if result.edited:
            self.status.say(
                f"Ran the edited SQL as shown, ad hoc: it is not saved and not recorded as a "
                f"run of {self.name.value}. Save to keep it as a new revision.",
                "info",
            )
        else:
            self.status.say("")
        more = " (truncated at the row cap)" if result.truncated else ""
        self.result_info.object = f'<span class="query-rows" data-rows="{len(df)}" data-edited="{str(result.edited).lower()}">{len(df):,} rows in {result.duration_ms:.1f} ms{more}</span>'
        self.result.value = df
        plot = data.chart_for(df)
        self.chart.objects = (
            [pn.pane.HoloViews(plot, sizing_mode="stretch_width")] if plot is not None else []
        )
        await self.refresh_history()

    def editor_text(self) -> str:
        """What the editor shows now: its text as typed (the value syncs only on blur)."""
        return self.sql.value_input or self.sql.value or ""

    async def _on_save(self, _event: Any) -> None:
        if not (self.name.value or "").strip():
            self.status.say("Give the query a name before saving.", "warning")
            return
        try:
            qid, revision = await off_loop(
                data.save,
                self.ctx.client,
                self.pick.value or None,
                (self.name.value or "").strip(),
                self.editor_text(),
                self.description.value or "",
            )
        except Exception as exc:
            self.status.error(exc)
            return
        self.status.say(f"Saved {self.name.value} as revision {revision}.", "success")
        self._stored_sql = self.editor_text()
        await self._load(select=qid)
        await self.refresh_history()
