"""Schedules: every schedule with its next fire and last outcome; the selected one's fire
history; pause, resume and trigger behind a confirmation; a form whose cron field shows the
next fire times while it is typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn

from ..context import Context
from ..data import schedules as data
from ..ui import REFRESH_MS, Confirm, StatusLine, every, off_loop, paint

STATUS_COLORS = {"active": "#1a7f37", "paused": "#9a6700"}
OUTCOME_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "canceled": "#57606a"}


class SchedulesPage:
    """The schedule list, the selected schedule's fires, its actions and the new-schedule form."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        w = pn.widgets
        self.table = w.Tabulator(
            pd.DataFrame(columns=data.SCHEDULE_COLUMNS),
            show_index=False,
            disabled=True,
            selectable=1,
            height=260,
            sizing_mode="stretch_width",
            css_classes=["schedules-table"],
        )
        paint(self.table, "status", STATUS_COLORS)
        paint(self.table, "last_outcome", OUTCOME_COLORS)
        self.table.param.watch(self._on_select, "selection")
        self.buttons = {
            action: w.Button(
                name=label, button_type=kind, width=130, css_classes=[f"schedule-{action}"]
            )
            for action, label, kind in (
                ("trigger", "Trigger now…", "primary"),
                ("pause", "Pause…", "warning"),
                ("resume", "Resume…", "success"),
            )
        }
        for action, button in self.buttons.items():
            button.on_click(self._asker(action))
        self.confirm = Confirm(css_classes=["schedule-confirm"])
        self.status = StatusLine(css_classes=["schedule-status"])
        self.history_title = pn.pane.Markdown("#### Fires", margin=(0, 10))
        self.history = w.Tabulator(
            pd.DataFrame(columns=data.FIRE_COLUMNS),
            show_index=False,
            disabled=True,
            height=240,
            sizing_mode="stretch_width",
            css_classes=["schedule-fires"],
        )
        paint(self.history, "outcome", OUTCOME_COLORS)
        self.form = NewScheduleForm(ctx, on_created=self._created)
        self.selected: dict[str, Any] | None = None
        self.panel = pn.Column(
            pn.pane.Markdown("## Schedules", margin=(0, 10)),
            self.table,
            pn.Row(*self.buttons.values()),
            self.confirm,
            self.status,
            self.history_title,
            self.history,
            self.form.panel,
            sizing_mode="stretch_width",
        )
        pn.state.onload(self._start)

    async def _start(self) -> None:
        await self.refresh()
        every(REFRESH_MS, self.refresh)

    async def refresh(self) -> None:
        try:
            df = await off_loop(data.schedules, self.ctx.client)
        except Exception as exc:
            self.status.error(exc)
            return
        chosen = self.selected["id"] if self.selected else None
        self.table.value = df
        rows = [i for i, sid in enumerate(df["id"]) if sid == chosen]
        self.selected = data.row(df, rows[0]) if rows else None
        self.table.selection = rows
        await self._load_history()

    async def _on_select(self, event: Any) -> None:
        df = self.table.value
        picked = [i for i in event.new if df is not None and i < len(df)]
        self.selected = data.row(df, picked[0]) if picked else None
        await self._load_history()

    async def _load_history(self) -> None:
        if self.selected is None:
            self.history_title.object = "#### Fires (select a schedule)"
            self.history.value = pd.DataFrame(columns=data.FIRE_COLUMNS)
            return
        s = self.selected
        try:
            df = await off_loop(data.fires, self.ctx.client, s["id"], s["timezone"])
        except Exception as exc:
            self.status.error(exc)
            return
        self.history_title.object = f"#### Fires of {s['name']}, newest first"
        self.history.value = df

    def _asker(self, action: str) -> Callable[[Any], None]:
        return lambda _event: self._ask(action)

    def _ask(self, action: str) -> None:
        if self.selected is None:
            self.status.say("Select a schedule first.", "warning")
            return
        row = dict(self.selected)

        async def run() -> None:
            try:
                said = await off_loop(data.act, self.ctx.client, action, row["id"])
                self.status.say(said, "success" if not said.startswith("Not") else "warning")
            except Exception as exc:
                self.status.error(exc)
            await self.refresh()

        label = {"trigger": "Fire now", "pause": "Pause", "resume": "Resume"}[action]
        self.confirm.ask(data.confirm_text(action, row), run, label)

    async def _created(self, name: str) -> None:
        self.status.say(f"Created {name}.", "success")
        await self.refresh()


class NewScheduleForm:
    """Name, cron (its next fires shown while typed), zone, task and overlap; Create."""

    def __init__(self, ctx: Context, on_created: Any) -> None:
        self.ctx = ctx
        self.on_created = on_created
        w = pn.widgets
        self.name = w.TextInput(name="Name", width=180, css_classes=["new-name"])
        self.cron = w.TextInput(
            name="Cron (5 fields, or 6 with seconds last)",
            placeholder="30 2 * * *",
            width=260,
            css_classes=["new-cron"],
        )
        self.zone = w.TextInput(name="Time zone", value="UTC", width=160, css_classes=["new-tz"])
        self.kind = w.Select(name="Task", options=data.KINDS, width=90, css_classes=["new-kind"])
        self.command = w.TextInput(
            name="Command (shell argv, or agent prompt)",
            sizing_mode="stretch_width",
            css_classes=["new-command"],
        )
        self.overlap = w.Select(
            name="Overlap",
            options=["allow", "forbid", "replace"],
            width=100,
            css_classes=["new-overlap"],
        )
        self.create = w.Button(
            name="Create", button_type="primary", width=100, css_classes=["new-create"]
        )
        self.create.on_click(self._on_create)
        self.preview = pn.pane.Markdown("", css_classes=["cron-preview"], margin=(0, 10))
        self.status = StatusLine(css_classes=["new-status"])
        self._asked = 0  # the newest preview asked for; older answers are dropped
        self.cron.param.watch(self._on_cron, "value_input")  # every keystroke
        self.zone.param.watch(self._on_cron, "value_input")
        self.panel = pn.Card(
            pn.Row(self.name, self.cron, self.zone, self.kind, self.overlap),
            self.preview,
            pn.Row(self.command, self.create, sizing_mode="stretch_width"),
            self.status,
            title="New schedule",
            collapsed=False,
            sizing_mode="stretch_width",
            css_classes=["new-schedule"],
        )

    async def _on_cron(self, _event: Any) -> None:
        self._asked += 1
        asked = self._asked
        cron, zone = self.cron.value_input or "", self.zone.value_input or "UTC"
        shown = await off_loop(data.preview, self.ctx.client, cron, zone)
        if asked == self._asked:
            self.preview.object = shown.markdown()

    async def _on_create(self, _event: Any) -> None:
        name = (self.name.value_input or "").strip()
        if not name:
            self.status.say("Give the schedule a name.", "warning")
            return
        try:
            made = await off_loop(
                data.create,
                self.ctx.client,
                name,
                self.cron.value_input or "",
                self.zone.value_input or "UTC",
                self.kind.value,
                self.command.value_input or "",
                self.overlap.value,
            )
        except Exception as exc:
            self.status.error(exc)
            return
        self.status.say("")
        self.name.value = self.cron.value = self.command.value = ""
        self.preview.object = ""
        await self.on_created(made.name)
