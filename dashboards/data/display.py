"""How values read on the pages: key/value details, numbers, task links.

Rules, applied in the data modules so every page says things the same way:

- details (audit, health) are ``key: value`` pairs, nested keys joined with ``.``, ``None``
  shown as ``-``, lists comma-separated; never a Python repr;
- a number with decimals is rounded to one decimal place with thousands separators
  (``977.417`` -> ``977.4``, ``12345.678`` -> ``12,345.7``); whole numbers keep their digits;
- a task id becomes a link to ``?page=tasks&task=ID``, which opens the task.
"""

from __future__ import annotations

import html
import re
from typing import Any

TASK_ID = re.compile(r"(?<![0-9a-fA-F])([0-9a-f]{24})(?![0-9a-fA-F])")
DECIMAL = re.compile(r"(?<![\w.])(\d+)\.(\d{2,})(?![\w.])")


def task_link(task_id: str) -> str:
    """An HTML link that opens the task on the Tasks page."""
    tid = html.escape(task_id)
    return f'<a class="task-link" href="?page=tasks&task={tid}">{tid}</a>'


def link_tasks_html(text: str) -> str:
    """Escaped ``text`` with every task id in it made a link."""
    return TASK_ID.sub(lambda m: task_link(m.group(1)), html.escape(text))


def link_tasks_markdown(text: str) -> str:
    """Markdown ``text`` with task ids as links (outside code spans and blocks)."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.S)
    return "".join(
        part
        if part.startswith("`")
        else TASK_ID.sub(lambda m: f"[{m.group(1)}](?page=tasks&task={m.group(1)})", part)
        for part in parts
    )


def round_decimals(text: str) -> str:
    """Numbers with two or more decimals in ``text``, rounded to one (thousands separated),
    padded to their old width so the columns of a text table stay aligned."""

    def rounded(m: re.Match[str]) -> str:
        old = m.group(0)
        return f"{float(old):,.1f}".ljust(len(old))

    return DECIMAL.sub(rounded, text)


def flat_items(details: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(key, value)`` pairs of a details mapping, nested keys as ``a.b``."""
    if not isinstance(details, dict):
        return [(prefix or "value", plain(details))] if details not in (None, "", {}) else []
    pairs: list[tuple[str, str]] = []
    for key, value in details.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            pairs.extend(flat_items(value, name))
        else:
            pairs.append((name, plain(value)))
    return pairs


def plain(value: Any) -> str:
    """One value as text: ``-`` for nothing, lists comma-separated, floats rounded."""
    if value is None or value == {} or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    return str(value)


def kv_text(details: Any, limit: int | None = None) -> str:
    """Details on one line: ``key: value · key: value`` (cut at ``limit`` characters)."""
    text = " · ".join(f"{k}: {v}" for k, v in flat_items(details))
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def kv_table(details: Any, css: str = "kv-table") -> str:
    """Details as an HTML key/value table (task ids linked)."""
    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0;color:#57606a;font-weight:500">'
        f"{html.escape(k)}</th><td>{link_tasks_html(v)}</td></tr>"
        for k, v in flat_items(details)
    )
    return f'<table class="{css}" style="font:13px sans-serif">{rows or "<tr><td>-</td></tr>"}</table>'
