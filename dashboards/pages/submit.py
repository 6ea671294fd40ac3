"""The submit form of the Tasks page: kind, spec, labels, priority; the argv that will run is
shown as it is typed, a command that does not parse is shown as an error and not sent."""

from __future__ import annotations

import html
import json
import shlex
import time
from collections.abc import Awaitable, Callable
from typing import Any

import panel as pn

from agency.models import TASK_KINDS

from ..context import Context
from ..data import tasks as data
from ..ui import StatusLine, off_loop

WORKERS_TTL_S = 5.0


class SubmitBox:
    """The form; ``on_submitted(task_id)`` runs after a task was accepted."""

    def __init__(self, ctx: Context, on_submitted: Callable[[str], Awaitable[None]]) -> None:
        self.ctx = ctx
        self.on_submitted = on_submitted
        w = pn.widgets
        self.kind = w.Select(name="Kind", options=list(TASK_KINDS), value="shell", width=100)
        self.spec = w.TextAreaInput(
            name="Spec (shell: a command line, quoted as in a shell; agent: prompt; or JSON)",
            value="echo hello",
            height=70,
            sizing_mode="stretch_width",
            css_classes=["submit-spec"],
        )
        self.labels = w.TextInput(name="Labels", placeholder="team=ops, env=dev", width=200)
        self.priority = w.IntInput(name="Priority", value=0, start=-1000, end=1000, width=90)
        self.argv = pn.pane.HTML("", css_classes=["submit-argv"], sizing_mode="stretch_width")
        self.fit = pn.pane.HTML("", css_classes=["submit-fit"], sizing_mode="stretch_width")
        self._workers: list[Any] = []
        self._workers_at = -WORKERS_TTL_S
        self.button = w.Button(
            name="Submit task", button_type="primary", width=130, css_classes=["submit-task"]
        )
        self.button.on_click(self._on_submit)
        self.spec.param.watch(self._on_typed, "value_input")
        self.kind.param.watch(self._on_typed, "value")
        self.kind.param.watch(self._on_fit, "value")
        self.labels.param.watch(self._on_fit, "value")
        self.status = StatusLine()
        self.panel = pn.Column(
            pn.pane.Markdown("#### Submit a task"),
            pn.Row(self.kind, self.labels, self.priority),
            self.spec,
            self.argv,
            self.fit,
            self.button,
            self.status,
            sizing_mode="stretch_width",
            css_classes=["submit-box"],
        )
        self._on_typed(None)
        pn.state.execute(self._first_fit)

    async def _first_fit(self) -> None:
        await self._on_fit(None)

    def form(self) -> data.SubmitForm:
        return data.SubmitForm(
            kind=self.kind.value,
            spec=str(
                self.spec.value_input if self.spec.value_input is not None else self.spec.value
            ),
            labels=self.labels.value_input or self.labels.value or "",
            priority=int(self.priority.value or 0),
        )

    def fill(self, task: dict[str, Any]) -> None:
        """Clone: the form holds ``task``'s kind, spec, labels and priority, to edit and send."""
        spec = task.get("spec") or {}
        if task.get("kind") == "shell" and set(spec) == {"argv"}:
            text = shlex.join(str(a) for a in spec["argv"])
        elif task.get("kind") == "agent" and set(spec) == {"prompt"}:
            text = str(spec["prompt"])
        else:
            text = json.dumps(spec)
        self.kind.value = task.get("kind") or "shell"
        self.spec.value = self.spec.value_input = text
        labels = ", ".join(f"{k}={v}" for k, v in sorted((task.get("labels") or {}).items()))
        self.labels.value = self.labels.value_input = labels
        self.priority.value = int(task.get("priority") or 0)
        self._on_typed(None)

    def _on_typed(self, _event: Any) -> None:
        text = data.preview(self.form())
        error = text.startswith("error:")
        color = "#cf222e" if error else "#57606a"
        self.argv.object = (
            f'<code class="argv-preview" data-error="{str(error).lower()}" '
            f'style="color:{color};white-space:pre-wrap">{html.escape(text)}</code>'
        )
        self.button.disabled = error

    async def _on_fit(self, _event: Any) -> None:
        """Say which workers would take the task (the worker list is read at most every 5 s)."""
        if time.monotonic() - self._workers_at > WORKERS_TTL_S:
            try:
                self._workers = await off_loop(self.ctx.client.worker_list)
            except Exception as exc:
                self.fit.object = f"workers unknown: {html.escape(str(exc))}"
                return
            self._workers_at = time.monotonic()
        words = data.who_would_take(self._workers, self.form())
        self.fit.object = (
            f'<span class="fit-workers" style="color:#57606a">{html.escape(words)}</span>'
        )

    async def _on_submit(self, _event: Any) -> None:
        form = self.form()
        try:
            form.payload()
        except ValueError as exc:
            self.status.error(exc)  # shown, never sent
            return
        try:
            task_id = await off_loop(data.submit, self.ctx.client, form)
        except Exception as exc:
            self.status.error(exc)
            return
        self.status.say(f"Submitted {task_id}.", "success")
        await self.on_submitted(task_id)
