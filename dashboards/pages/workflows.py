"""Workflows: the runs, the selected run's graph of steps (state colours, each step linked to
its task) and steps table, the selected step's tasks, and approve, reject, retry and cancel
behind a confirmation. The run refreshes every ``LIVE_MS`` while the page is open."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from agency.models.workflows import WorkflowRun

from ..context import Context
from ..data import workflows as data
from ..ui import Confirm, StatusLine, every, off_loop, paint

LIVE_MS = 1500


class WorkflowsPage:
    """Runs, the selected run's live graph and steps, the selected step's tasks, actions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        w = pn.widgets
        self.table = w.Tabulator(
            pd.DataFrame(columns=data.RUN_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=240,
            sizing_mode="stretch_width",
            css_classes=["workflow-runs"],
        )
        paint(self.table, "state", data.STATE_COLORS)
        self.table.param.watch(self._on_run, "selection")
        self.title = pn.pane.Markdown("#### Steps (select a run)", margin=(0, 10))
        self.graph = pn.pane.HTML("", css_classes=["workflow-graph-pane"], margin=(0, 10))
        self.steps = w.Tabulator(
            pd.DataFrame(columns=data.STEP_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=220,
            sizing_mode="stretch_width",
            css_classes=["workflow-steps"],
        )
        paint(self.steps, "state", data.STATE_COLORS)
        self.steps.param.watch(self._on_step, "selection")
        self.detail = pn.pane.Markdown("", css_classes=["workflow-step-detail"], margin=(0, 10))
        self.reason = w.TextInput(
            name="Reason (audited)", width=320, css_classes=["workflow-reason"]
        )
        self.buttons = {
            action: w.Button(
                name=label, button_type=kind, width=130, css_classes=[f"workflow-{action}"]
            )
            for action, label, kind in (
                ("approve", "Approve…", "success"),
                ("reject", "Reject…", "danger"),
                ("retry", "Retry step…", "primary"),
                ("cancel", "Cancel run…", "warning"),
            )
        }
        for action, button in self.buttons.items():
            button.on_click(self._asker(action))
        self.confirm = Confirm(css_classes=["workflow-confirm"])
        self.status = StatusLine(css_classes=["workflow-status"])
        self.run: WorkflowRun | None = None
        self.step: str | None = None
        self.panel = pn.Column(
            pn.pane.Markdown("## Workflows", margin=(0, 10)),
            self.table,
            self.title,
            self.graph,
            self.steps,
            pn.Row(self.reason, *self.buttons.values()),
            self.confirm,
            self.status,
            self.detail,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._start)

    async def _start(self) -> None:
        await self.refresh()
        every(LIVE_MS, self.refresh)

    async def refresh(self) -> None:
        try:
            df = await off_loop(data.runs, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        chosen = self.run.id if self.run else None
        self.table.value = df
        rows = [i for i, rid in enumerate(df["id"]) if rid == chosen]
        self.table.selection = rows
        if chosen is not None and rows:
            await self._load(chosen)

    async def _on_run(self, event: Any) -> None:
        df = self.table.value
        picked = [i for i in event.new if df is not None and i < len(df)]
        if not picked:
            return
        run_id = str(df["id"].iloc[picked[0]])
        if self.run is None or self.run.id != run_id:
            self.step = None
            self.detail.object = ""
        await self._load(run_id)

    async def _load(self, run_id: str) -> None:
        try:
            wf = await off_loop(data.run, self.ctx.client, run_id)
        except Exception as exc:
            self.status.error(exc)
            return
        changed = self.run is None or self.run.version != wf.version or self.run.id != wf.id
        self.run = wf
        if not changed:
            return
        self.title.object = f"#### {wf.name} run {wf.id}: {wf.state.value} (version {wf.version})"
        self.graph.object = data.graph_svg(wf)
        self.steps.value = data.step_rows(wf)
        picked = [i for i, s in enumerate(wf.steps) if s.id == self.step]
        self.steps.selection = picked
        if self.step is not None:
            await self._show_step(self.step)

    async def _on_step(self, event: Any) -> None:
        if self.run is None:
            return
        picked = [i for i in event.new if i < len(self.run.steps)]
        if picked:
            self.step = self.run.steps[picked[0]].id
            await self._show_step(self.step)

    async def _show_step(self, step_id: str) -> None:
        if self.run is None:
            return
        try:
            self.detail.object = await off_loop(
                data.step_detail, self.ctx.client, self.run, step_id
            )
        except Exception as exc:
            self.status.error(exc)

    def _asker(self, action: str) -> Callable[[Any], None]:
        return lambda _event: self._ask(action)

    def _ask(self, action: str) -> None:
        wf, step = self.run, self.step
        if wf is None:
            self.status.say("Select a run first.", "warning")
            return
        if action != "cancel" and step is None:
            self.status.say("Select a step first.", "warning")
            return
        reason = self.reason.value_input or ""

        async def go() -> None:
            try:
                said = await off_loop(data.act, self.ctx.client, action, wf, step, reason)
                self.status.say(said, "warning" if said.startswith("Not") else "success")
            except Exception as exc:
                self.status.error(exc)
            self.run = None if self.run is None else self.run.model_copy(update={"version": 0})
            await self._load(wf.id)

        label = {"approve": "Approve", "reject": "Reject", "retry": "Retry", "cancel": "Cancel run"}
        self.confirm.ask(data.confirm_text(action, wf, step), go, label[action])
