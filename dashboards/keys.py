"""Rows from the keyboard: focus a table, move with the arrow keys, open with Enter.

Tabulator moves between cells only while one is being edited, and the dashboard's tables are
read-only, so ``RowKeys`` listens itself: a hidden element whose script hears ``keydown``
anywhere in the document (the tables live in shadow roots, so it reads the event's composed
path) and, when the focus is in the body of a table with the ``target`` class, hands the key
to Python as ``key`` (``down``, ``up``, ``pagedown``, ``pageup``, ``home``, ``end``, ``enter``).
Python moves the selection and sets ``row``, which the script scrolls into view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import param
from panel.reactive import ReactiveHTML

KEYS = ("down", "up", "pagedown", "pageup", "home", "end", "enter")
PAGE_ROWS = 10  # rows that PageDown and PageUp move

_LISTEN = """
const names = {ArrowDown: 'down', ArrowUp: 'up', PageDown: 'pagedown', PageUp: 'pageup',
               Home: 'home', End: 'end', Enter: 'enter'};
// numbering goes on from the last key the server has (a tab shown again renders anew)
state.n = parseInt(((data.key || '').split(' ').pop() || '').split(':')[1] || '0', 10);
state.onkey = (e) => {
  const name = names[e.key];
  if (!name || e.altKey || e.ctrlKey || e.metaKey) { return; }
  const path = e.composedPath();
  const body = path.find(n => n.classList && n.classList.contains('tabulator-tableholder'));
  if (!body || !path.some(n => n.classList && n.classList.contains(data.target))) { return; }
  e.preventDefault();
  state.body = body;
  state.n += 1;
  // the latest keys, numbered: the server may see two quick changes as one, and then
  // still reads every key it has not handled yet, in order
  state.log = (state.log || []).concat([name + ':' + state.n]).slice(-20);
  data.key = state.log.join(' ');
};
document.addEventListener('keydown', state.onkey, true);
"""
_SCROLL = """
const body = state.body;
const first = body ? body.querySelector('.tabulator-row') : null;
if (!first || data.row < 0) { return; }
const height = first.offsetHeight || 30;
const top = data.row * height, bottom = top + height;
if (top < body.scrollTop) { body.scrollTop = top; }
else if (bottom > body.scrollTop + body.clientHeight) { body.scrollTop = bottom - body.clientHeight; }
"""

OnKey = Callable[[str], Awaitable[None]]


class RowKeys(ReactiveHTML):
    """Arrow keys and Enter on the table with CSS class ``target``; see the module docstring."""

    target = param.String(default="")
    key = param.String(default="")
    row = param.Integer(default=-1)

    _template = '<div id="keys" class="row-keys" style="display:none"></div>'
    _scripts = {
        "render": _LISTEN,
        "row": _SCROLL,
        "remove": "document.removeEventListener('keydown', state.onkey, true);",
    }

    def __init__(self, target: str, on_key: OnKey) -> None:
        super().__init__(target=target, height=0, width=0, margin=0)  # type: ignore[no-untyped-call]
        self._on_key = on_key
        self._done = 0  # the number of the last key handled
        self._lock = asyncio.Lock()  # one key after the other, in the order pressed
        self.param.watch(self._changed, "key")

    async def _changed(self, event: Any) -> None:
        async with self._lock:
            for name, number in pending(str(event.new), self._done):
                self._done = number
                await self._on_key(name)


def pending(log: str, done: int) -> list[tuple[str, int]]:
    """The keys of ``log`` (``down:7 enter:8``) numbered after ``done``, oldest first."""
    keys = []
    for entry in log.split():
        name, _, number = entry.partition(":")
        if name in KEYS and number.isdigit() and int(number) > done:
            keys.append((name, int(number)))
    return sorted(keys, key=lambda k: k[1])


def moved(name: str, current: int, count: int) -> int:
    """The row a key moves to from ``current`` (``-1``: none yet) among ``count`` rows."""
    if name == "home":
        return 0
    if name == "end":
        return count - 1
    step = {"down": 1, "up": -1, "pagedown": PAGE_ROWS, "pageup": -PAGE_ROWS}.get(name, 0)
    if current < 0:
        return 0 if step > 0 else count - 1
    return max(0, min(count - 1, current + step))
