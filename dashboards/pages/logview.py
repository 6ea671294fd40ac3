"""The log view of the drill-down: stdout and stderr interleaved with times, following the
end, searchable, downloadable."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from typing import Any

import panel as pn
import param
from panel.reactive import ReactiveHTML

from ..data.logs import STREAMS, LogBuffer

#: Lines travel as base64 of JSON (no character for the HTML escaping of string properties to
#: touch, and a list of lists would be taken for child models), are built in the browser with
#: ``textContent`` (never as HTML), and the box scrolls to the newest line only if the reader
#: was already at the end.
_FOLLOW = """
const end = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
const bytes = Uint8Array.from(atob(data.lines), (c) => c.charCodeAt(0));
const rows = JSON.parse(new TextDecoder().decode(bytes)).map(([clock, iso, stream, text]) => {
  const line = document.createElement('div');
  line.className = 'log-line log-' + stream;
  line.dataset.stream = stream;
  const ts = document.createElement('span');
  ts.className = 'log-ts'; ts.title = iso; ts.textContent = clock;
  const tag = document.createElement('span');
  tag.className = 'log-stream'; tag.textContent = stream === 'stderr' ? 'err' : 'out';
  line.append(ts, ' ', tag, ' ', text);
  return line;
});
if (rows.length === 0) {
  const none = document.createElement('div');
  none.className = 'log-empty'; none.textContent = data.empty;
  rows.push(none);
}
box.replaceChildren(...rows);
if (end || state.first !== false) { box.scrollTop = box.scrollHeight; }
state.first = false;
"""


def _encode(rows: list[list[str]]) -> str:
    return base64.b64encode(json.dumps(rows).encode()).decode()


class LogBox(ReactiveHTML):
    """A scrolling box of log lines (``[clock, iso time, stream, text]``) that keeps the
    newest line in view."""

    lines = param.String(default=_encode([]))
    empty = param.String(default="no output yet")

    _template = (
        '<div id="box" class="log-box" style="height:100%;max-height:300px;overflow:auto;'
        "background:#f6f8fa;font:12px/1.45 ui-monospace,monospace;white-space:pre-wrap;"
        'padding:4px 6px;border:1px solid #d0d7de;border-radius:6px"></div>'
    )
    _scripts = {"render": _FOLLOW, "lines": _FOLLOW}
    _stylesheets = [
        ".log-stderr{color:#cf222e}.log-ts{color:#57606a}"
        ".log-stream{color:#8c959f;font-size:10px;text-transform:uppercase}"
    ]


class LogView:
    """The Output tab: ``add`` feeds chunks, ``reset`` starts a new task's log."""

    def __init__(self) -> None:
        self.buffer = LogBuffer()
        self.task_id = ""
        self._shown = -1
        self.box = LogBox(  # type: ignore[no-untyped-call]  # param's __init__ is untyped
            sizing_mode="stretch_width", height=300, css_classes=["task-output"]
        )
        self.search = pn.widgets.TextInput(
            placeholder="search the log…", width=220, css_classes=["log-search"]
        )
        self.search.param.watch(lambda _e: self.render(force=True), "value_input")
        self.download = pn.widgets.FileDownload(
            callback=self._file,
            filename="task.log",
            label="Download log",
            button_type="light",
            width=150,
            embed=False,
            css_classes=["log-download"],
        )
        self.panel = pn.Column(
            pn.Row(self.search, self.download), self.box, sizing_mode="stretch_width"
        )

    def reset(self, task_id: str) -> None:
        self.buffer = LogBuffer()
        self.task_id = task_id
        self.download.filename = f"{task_id}.log"
        self.render(force=True)

    def add(self, stream: str, chunk: str, ts: datetime | None = None) -> None:
        self.buffer.add(stream, chunk, ts or datetime.now(UTC))

    def close(self) -> None:
        for stream in STREAMS:
            self.buffer.close(stream)

    def render(self, force: bool = False) -> None:
        if force or self._shown != self.buffer.version:
            self._shown = self.buffer.version
            search = self.search.value_input or ""
            self.box.param.update(
                lines=_encode(self.buffer.rows(search)),
                empty="no match" if search.strip() else "no output yet",
            )

    def text(self) -> str:
        return self.buffer.text()

    def _file(self) -> Any:
        return io.StringIO(self.buffer.text(self.search.value_input or ""))
