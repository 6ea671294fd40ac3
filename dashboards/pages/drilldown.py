"""The drill-down of one task: why it waits, spec, attempts, the log (stdout and stderr with
times), timeline, actions with a confirmation that asks for a reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import conversation as conversation_data
from ..data import drilldown as data
from ..data import tasks as tasks_data
from ..data import timeline as timeline_data
from ..reasons import ReasonConfirm
from ..ui import StatusLine, off_loop
from .conversation import Conversation
from .logview import LogView
from .task_tree import TaskTree
from .timeline_chart import BarChart


class Drilldown:
    """Shows one task; ``show(id)`` loads it, ``on_event`` refreshes it when it changes."""

    def __init__(
        self, ctx: Context, on_change: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.ctx = ctx
        self.on_change = on_change
        #: set by the Tasks page: "Clone" copies the task into its submit form
        self.on_clone: Callable[[dict[str, Any]], None] | None = None
        self.task: dict[str, Any] | None = None
        self._want: str | None = None  # the task last asked for: a slower, older read loses
        self._offsets = {"stdout": 0, "stderr": 0}
        self._out_eof = False
        self._busy = False
        self.title = pn.pane.Markdown(
            "Select a task to see its details.", css_classes=["drill-title"]
        )
        # the rest is built on the first show: the Tasks page renders faster without it
        self.panel = pn.Column(self.title, sizing_mode="stretch_width", css_classes=["drilldown"])
        self._built = False

    def build(self) -> None:
        """Build the widgets now rather than on the first ``show`` (idempotent)."""
        if self._built:
            return
        self._built = True
        self.state = pn.pane.HTML("", css_classes=["drill-state"])
        self.waiting = pn.pane.Alert(
            "", alert_type="warning", visible=False, css_classes=["drill-waiting"]
        )
        self.steps = pn.pane.Markdown("", css_classes=["cancel-steps"], visible=False)
        self.spec = pn.pane.JSON({}, depth=3, theme="light", sizing_mode="stretch_width")
        self.attempts = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.ATTEMPT_COLUMNS),
            disabled=True,
            show_index=False,
            height=120,
            sizing_mode="stretch_width",
            layout="fit_columns",
        )
        self.timeline = pn.widgets.Tabulator(
            pd.DataFrame(columns=data.TIMELINE_COLUMNS),
            disabled=True,
            show_index=False,
            height=220,
            sizing_mode="stretch_width",
            layout="fit_columns",
            css_classes=["timeline-table"],
        )
        # queue wait against run time, per attempt: the figures, then the bars
        self.phases: list[timeline_data.Phase] = []
        self.totals = pn.pane.Markdown("", css_classes=["drill-totals"], margin=(0, 10))
        self.phase_text = pn.pane.Markdown("", css_classes=["drill-phases"], margin=(0, 10))
        self.phase_chart = BarChart(
            y="row",
            columns=timeline_data.PHASE_COLUMNS,
            tooltips=[("", "@row"), ("part", "@part"), ("", "@note")],
            css="phase-chart",
        )
        self.log = LogView()
        self.buttons = {
            a: pn.widgets.Button(
                name=a.capitalize(),
                button_type="danger" if a == "cancel" else "default",
                width=90,
                css_classes=[f"action-{a}"],
                visible=False,
            )
            for a in tasks_data.ACTIONS
        }
        for action, button in self.buttons.items():
            button.on_click(self._asker(action))
        self.clone = pn.widgets.Button(
            name="Clone…", width=90, css_classes=["action-clone"], visible=False
        )
        self.clone.on_click(self._on_clone)
        self.confirm = ReasonConfirm(css_classes=["task-confirm"])
        self.status = StatusLine()
        self.agent = Conversation(self.ctx, on_submitted=self._on_follow_up)
        self.tree = TaskTree(self.ctx, self.show)
        self._usage = ""
        self._session_id: str | None = None
        self._common_tabs: list[tuple[str, Any]] = [
            (
                "Timeline",
                pn.Column(
                    self.phase_text,
                    pn.pane.HTML(
                        timeline_data.key_html(timeline_data.PHASE_KEY),
                        css_classes=["phase-key"],
                        margin=(0, 10),
                    ),
                    self.phase_chart.pane,
                    self.timeline,
                    sizing_mode="stretch_width",
                ),
            ),
            ("Output", self.log.panel),
            ("Spec", self.spec),
            ("Attempts", self.attempts),
        ]
        self._agent_tabs = False
        self.tabs = pn.Tabs(*self._common_tabs, sizing_mode="stretch_width")
        self.panel.objects = [
            self.title,
            self.state,
            self.totals,
            self.waiting,
            self.tree.panel,
            pn.Row(*self.buttons.values(), self.clone),
            self.confirm,
            self.status,
            self.steps,
            self.tabs,
        ]

    async def show(self, task_id: str) -> None:
        self.build()
        self._want = task_id
        if self.task is None or self.task["id"] != task_id:
            self.log.reset(task_id)
            self._offsets, self._out_eof = {"stdout": 0, "stderr": 0}, False
            self.confirm.close()
            self.status.say("")
            self.agent.reset()
        await self.refresh(task_id)

    async def refresh(self, task_id: str | None = None) -> None:
        self.build()
        task_id = task_id or (self.task["id"] if self.task else None)
        if task_id is None:
            return
        try:
            detail = await off_loop(data.load, self.ctx.client, task_id)
        except Exception as exc:
            self.status.error(exc)
            return
        if self._want is not None and detail.task["id"] != self._want:
            return  # another task was opened while this one was read
        self.task = detail.task
        self.render(detail)
        await self.tree.update(detail.task)
        await self.follow_output()

    def render(self, detail: data.Detail) -> None:
        task = detail.task
        cost = data.cost_text(detail.usage)
        self.title.object = f"### Task `{task['id']}`\n{task['kind']} · priority {task['priority']} · attempt {task['attempt']}/{task['max_attempts']} · worker {task.get('worker_id') or '-'}{cost}"
        why = data.waiting_words(task, detail.queue_paused)
        self.waiting.object = f"**Waiting:** {why}" if why else ""
        self.waiting.visible = bool(why)
        reason = f" — {task['reason']}" if task.get("reason") else ""
        self.state.object = f'<span class="task-state" data-state="{task["state"]}" style="font-weight:600">state: {task["state"]}</span>{reason}'
        self.spec.object = {
            "spec": task["spec"],
            "labels": task.get("labels", {}),
            "created_by": task.get("created_by"),
        }
        self.attempts.value = detail.attempts
        self._usage = conversation_data.usage_line(detail.usage, detail.session_id)
        self._session_id = detail.session_id
        self._show_agent_tab(task["kind"] == "agent")
        self.timeline.value = detail.timeline
        self.phases = detail.phases
        self.phase_chart.show(timeline_data.phase_frame(self.phases, datetime.now(UTC)))
        self.show_phases()
        allowed = tasks_data.allowed_actions(task["state"])
        for action, button in self.buttons.items():
            button.visible = action in allowed
        self.clone.visible = self.on_clone is not None
        steps = data.cancel_steps(detail.timeline, task["state"])
        self.steps.visible = bool(steps)
        self.steps.object = "**Cancel lifecycle**\n\n" + "\n".join(
            f"- {mark} **{label}** — {note}" for label, mark, note in steps
        )

    def show_phases(self) -> None:
        """The figures of every attempt as text (they grow while the task waits or runs)."""
        now = datetime.now(UTC)
        most = self.task["max_attempts"] if self.task else 1
        self.totals.object = timeline_data.totals_line(self.phases, now)
        self.phase_text.object = "\n".join(
            f"- {timeline_data.phase_line(p, most, now)}" for p in self.phases
        )

    def grow_phases(self) -> None:
        """Extend the open bar (the wait or run going on) to now, and its figures."""
        if self.phases and self.phases[-1].ended_at is None:
            self.phase_chart.grow(datetime.now(UTC).timestamp() * 1000.0)
            self.show_phases()

    def _show_agent_tab(self, agent: bool) -> None:
        """An agent task opens on its conversation; other kinds keep the usual tabs."""
        if agent == self._agent_tabs:
            return
        self._agent_tabs = agent
        extra = [("Conversation", self.agent.panel)] if agent else []
        self.tabs.clear()
        self.tabs.extend([*extra, *self._common_tabs])
        self.tabs.active = 0

    async def follow_agent(self) -> None:
        """Read the agent task's transcript again (it re-renders only when it has grown)."""
        if self.task is not None and self.task["kind"] == "agent":
            await self.agent.update(self.task, self._usage, self._session_id)

    async def _on_follow_up(self, task_id: str) -> None:
        if self.on_change is not None:
            await self.on_change()

    async def follow_output(self) -> None:
        """Append new stdout and stderr lines; called on every refresh and by the page's tick
        while the task runs. Lines are stamped when read (see ``data.logs``), except output
        first read after the task ended, which gets the attempt's end time."""
        await self.follow_agent()
        self.grow_phases()
        if self.task is None or self._busy or self._out_eof:
            return
        self._busy = True
        task = self.task
        ended = tasks_data.is_terminal(task["state"])
        stamp = data.ended_at(task) if ended and not any(self._offsets.values()) else None
        try:
            eofs = []
            for stream in self._offsets:
                for _ in range(20):  # bounded: at most 20 chunks per call, the next tick goes on
                    text, nxt, eof = await off_loop(
                        data.read_output, self.ctx.client, task["id"], self._offsets[stream], stream
                    )
                    self.log.add(stream, text, stamp)
                    self._offsets[stream] = nxt
                    if not text:
                        break
                eofs.append(eof)
            self._out_eof = all(eofs) and ended
            if self._out_eof:
                self.log.close()
            self.log.render()
        except Exception as exc:
            self.status.error(exc)
        finally:
            self._busy = False

    def _on_clone(self, _event: Any) -> None:
        if self.task is not None and self.on_clone is not None:
            self.on_clone(dict(self.task))

    def _asker(self, action: str) -> Callable[[Any], None]:
        return lambda _event: self.ask(action)

    def ask(self, action: str) -> None:
        if self.task is None:
            return
        task = dict(self.task)

        async def run() -> None:
            try:
                await off_loop(
                    tasks_data.run_action, self.ctx.client, task["id"], action, self.confirm.reason
                )
                self.status.say(
                    f"{action.capitalize()} of {task['id']} accepted; following its state below.",
                    "success",
                )
            except Exception as exc:
                self.status.error(exc)
            await self.refresh(task["id"])
            if self.on_change is not None:
                await self.on_change()

        self.confirm.ask(tasks_data.confirm_text(task, action), run, f"Confirm {action}")


class TaskPage:
    """One task's drill-down on its own (a notebook cell): loads the task, then follows it live."""

    def __init__(self, ctx: Context, task_id: str) -> None:
        self.ctx = ctx
        self.task_id = task_id
        self._ev_seen = ctx.feeds.events.received
        self.drill = Drilldown(ctx)
        self.drill.build()  # in the first render, not added to it later
        self.panel = self.drill.panel
        pn.state.onload(self._load)

    async def _load(self) -> None:
        await self.drill.show(self.task_id)

    async def tick(self) -> None:
        """Reload on this task's events from the live feed; else follow its output while it runs."""
        items = self.ctx.feeds.events.since(self._ev_seen)
        if items:
            self._ev_seen = items[-1].n
        if any(
            it.data.get("resource_type") == "task" and it.data.get("resource_id") == self.task_id
            for it in items
        ):
            await self.drill.refresh(self.task_id)
        elif self.drill.task is not None and not tasks_data.is_terminal(self.drill.task["state"]):
            await self.drill.follow_output()
