"""Small building blocks shared by the pages: off-loop calls, messages, confirmations, tiles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import panel as pn

T = TypeVar("T")
AlertKind = Literal["primary", "secondary", "success", "danger", "warning", "info", "light", "dark"]
REFRESH_MS = 3000  # how often the table pages (workers, health) read the API again


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call in a worker thread so the server's event loop stays free."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def describe_error(exc: BaseException) -> str:
    """One line an operator can act on: the agency error's message, else the exception."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    code = getattr(exc, "code", None)
    return f"{message} ({code})" if code else message


class StatusLine(pn.pane.Alert):
    """A one-line message under a form: info, success or the error of the last action."""

    def __init__(self, **params: Any) -> None:
        params.setdefault("object", "")
        params.setdefault("alert_type", "light")
        params.setdefault("visible", False)
        params.setdefault("margin", (4, 10))
        # unannotated in Panel; mypy's untyped_calls_exclude does not reach calls via super()
        super().__init__(**params)  # type: ignore[no-untyped-call]

    def say(self, text: str, kind: AlertKind = "info") -> None:
        self.object = text
        self.alert_type = kind
        self.visible = bool(text)

    def error(self, exc: BaseException) -> None:
        self.say(describe_error(exc), "danger")


class Confirm(pn.Column):
    """An inline confirmation: says exactly what will happen, then Confirm or Back.

    ``ask(text, action)`` shows it; Confirm awaits ``action`` (an async callable) and hides
    the box. The text is the contract with the operator, so callers name the task, the
    worker and the consequence.
    """

    def __init__(self, **params: Any) -> None:
        self._text = pn.pane.Alert(
            "", alert_type="warning", margin=(4, 0), css_classes=["confirm-text"]
        )
        self._yes = pn.widgets.Button(
            name="Confirm", button_type="danger", width=110, css_classes=["confirm-yes"]
        )
        self._no = pn.widgets.Button(
            name="Back", button_type="light", width=90, css_classes=["confirm-no"]
        )
        self._action: Callable[[], Awaitable[None]] | None = None
        self._yes.on_click(self._on_yes)
        self._no.on_click(lambda _e: self.close())
        params.setdefault("visible", False)
        super().__init__(self._text, pn.Row(self._yes, self._no), **params)

    def ask(
        self, text: str, action: Callable[[], Awaitable[None]], confirm_label: str = "Confirm"
    ) -> None:
        self._text.object = text
        self._yes.name = confirm_label
        self._action = action
        self.visible = True

    def close(self) -> None:
        self._action = None
        self.visible = False

    async def _on_yes(self, _event: Any) -> None:
        action, self._action = self._action, None
        self.visible = False
        if action is not None:
            await action()


def every(period_ms: int, callback: Callable[[], Any]) -> Any:
    """A periodic callback of this session, first called one period from now; ``callback``
    may be a coroutine function, which Panel awaits on its loop.

    A served page's callback (Bokeh's) waits a period before its first call, but outside a
    server session (a notebook cell) Panel's runs at once. The pages load their data and then
    call this, so in a notebook they would load everything twice in a row (the Overview's
    history is an audited query run). Here both wait a period.
    """
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        return pn.state.add_periodic_callback(callback, period=period_ms)
    periodic = pn.state.add_periodic_callback(callback, period=period_ms, start=False)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (a plain script): nothing would run it later anyway
        periodic.start()
    else:
        loop.call_later(period_ms / 1000, periodic.start)
    return periodic


def paint(table: pn.widgets.Tabulator, column: str, colors: dict[str, str]) -> None:
    """Color a column's cells by value (breaker and health states)."""
    if table.style is not None:
        table.style.map(_color(colors), subset=[column])


def _color(colors: dict[str, str]) -> Callable[[Any], str]:
    def style(value: Any) -> str:
        color = colors.get(str(value))
        return f"color: {color}; font-weight: 600" if color else ""

    return style


def tile(title: str, css: str) -> pn.pane.HTML:
    """A KPI tile; ``set_tile`` fills it. ``css`` names it for tests and styling."""
    return pn.pane.HTML(
        _tile_html(title, "-", ""),
        css_classes=["kpi-tile", css],
        styles={"border": "1px solid #d0d7de", "border-radius": "8px", "background": "#fff"},
        width=190,
        height=96,
        margin=6,
    )


def set_tile(pane: pn.pane.HTML, title: str, value: str, note: str = "") -> None:
    html = _tile_html(title, value, note)
    if pane.object != html:
        pane.object = html


def _tile_html(title: str, value: str, note: str) -> str:
    return (
        f'<div style="padding:8px 12px;font-family:sans-serif">'
        f'<div style="font-size:12px;color:#57606a;text-transform:uppercase">{title}</div>'
        f'<div class="kpi-value" style="font-size:30px;font-weight:600;color:#1f2328">{value}</div>'
        f'<div style="font-size:11px;color:#57606a">{note}</div></div>'
    )
