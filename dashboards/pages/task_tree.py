"""The family of the task in the drill-down: a link to its parent and its children's tree.

Each line is a button that opens that task in the same drill-down. Hidden for a task that
has neither parent nor children.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import panel as pn

from ..context import Context
from ..data import task_tree as data
from ..ui import off_loop


class TaskTree:
    """``update(task)`` reloads the tree of ``task``; a click calls ``open_task(id)``."""

    def __init__(self, ctx: Context, open_task: Callable[[str], Awaitable[None]]) -> None:
        self.ctx = ctx
        self.open_task = open_task
        self.panel = pn.Column(
            css_classes=["task-tree"], sizing_mode="stretch_width", visible=False
        )
        self._shown: tuple[Any, ...] = ()

    async def update(self, task: dict[str, Any]) -> None:
        try:
            tree = await off_loop(data.load_tree, self.ctx.client, task)
        except Exception as exc:  # the tree is an aid: the rest of the drill-down still shows
            self.panel.objects = [pn.pane.Markdown(f"Task tree unavailable: {exc}")]
            self.panel.visible = True
            return
        shape = (tree.task_id, tree.parent, tuple(tree.nodes), tree.truncated)
        if shape == self._shown:
            return  # unchanged: leave the buttons (and the operator's focus) alone
        self._shown = shape
        self.panel.visible = not tree.empty
        rows: list[Any] = [pn.pane.Markdown("**Task tree**", margin=(0, 5))]
        if tree.parent is not None:
            parent_id, state = tree.parent
            rows.append(self._link(f"↑ parent {parent_id} · {state}", parent_id, "tree-parent"))
        for node in tree.nodes:
            css = f"tree-node tree-depth-{node.depth} tree-state-{node.state}"
            rows.append(self._link(data.label(node), node.id, css))
        if tree.truncated:
            rows.append(pn.pane.Markdown(f"… more than {data.MAX_NODES} tasks; list the rest."))
        self.panel.objects = rows

    def _link(self, text: str, task_id: str, css: str) -> pn.widgets.Button:
        button = pn.widgets.Button(
            name=text, button_type="light", css_classes=css.split(), margin=(0, 5)
        )

        async def open_it(_event: Any) -> None:
            await self.open_task(task_id)

        button.on_click(open_it)  # Panel awaits coroutine handlers
        return button
