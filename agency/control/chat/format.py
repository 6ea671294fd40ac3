"""Plain-text rendering of the assistant's answers: tables, KPIs, tasks and workers.

Chat is read in a dashboard, a notebook or a terminal, so answers are aligned monospace
text inside a fenced block, which every one of them shows well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from agency.models import Task, WorkerInfo

CELL_MAX = 60  # wider cells are cut so one long value does not wreck the table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= CELL_MAX else text[: CELL_MAX - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An aligned text table in a fenced block; ``(no rows)`` when empty."""
    if not rows:
        return "(no rows)"
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=False)]
    head = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False))
    rule = "  ".join("-" * w for w in widths)
    body = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() for row in cells
    ]
    return "```\n" + "\n".join([head.rstrip(), rule, *body]) + "\n```"


KPI_LABELS = {
    "tasks_per_min": "tasks/min",
    "success_rate": "success rate",
    "queue_depth": "queue depth",
    "running": "running",
    "active_workers": "active workers",
    "open_breakers": "open breakers",
    "queue_p50_ms": "queue wait p50 ms",
    "queue_p95_ms": "queue wait p95 ms",
    "run_p50_ms": "run time p50 ms",
    "run_p95_ms": "run time p95 ms",
}


def format_kpis(kpis: Mapping[str, Any]) -> str:
    """The KPI snapshot as a two-column table, then the task counts by state."""
    rows = [[label, kpis[key]] for key, label in KPI_LABELS.items() if key in kpis]
    text = format_table(["kpi", "value"], rows)
    by_state = kpis.get("by_state")
    if isinstance(by_state, Mapping) and by_state:
        text += "\ntasks by state: " + ", ".join(f"{k} {v}" for k, v in sorted(by_state.items()))
    return text


def format_tasks(tasks: Sequence[Task]) -> str:
    if not tasks:
        return "No tasks."
    rows = [
        [t.id, t.kind, t.state.value, t.worker_id or "", t.created_by, t.created_at, t.reason or ""]
        for t in tasks
    ]
    return format_table(["id", "kind", "state", "worker", "by", "created", "reason"], rows)


def format_workers(workers: Sequence[WorkerInfo]) -> str:
    if not workers:
        return "No workers registered."
    rows = [
        [
            w.id,
            w.health.value,
            w.breaker,
            f"{w.running}/{w.capacity}",
            ",".join(w.kinds),
            w.last_heartbeat,
        ]
        for w in workers
    ]
    return format_table(["id", "health", "breaker", "load", "kinds", "last heartbeat"], rows)
