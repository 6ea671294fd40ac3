"""Plain-text rendering of the assistant's answers: tables, KPIs, tasks, workers, schedules.

Chat is read in a dashboard, a notebook or a terminal, so answers are aligned monospace
text inside a fenced block, which every one of them shows well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agency.models import ScheduleFireOut, ScheduleView, Task, WorkerInfo

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


def _local(value: datetime | None, zone: str) -> str:
    """A schedule's instants read in its own time zone, as its cron fields are."""
    return "" if value is None else f"{value.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}"


def _fire_outcome(fire: ScheduleFireOut) -> str:
    if fire.skipped_reason is not None:
        return f"skipped: {fire.skipped_reason.value}"
    if fire.task_id is None:
        return "recorded"
    return fire.state.value if fire.state is not None else "submitted"


def format_schedules(schedules: Sequence[ScheduleView]) -> str:
    if not schedules:
        return "No schedules."
    rows = []
    for s in schedules:
        last = s.last_fire
        rows.append(
            [
                s.name,
                s.cron,
                s.timezone,
                "paused" if s.paused else "active",
                _local(s.next_fires[0] if s.next_fires else None, s.timezone),
                _local(last.slot, s.timezone) if last else "",
                _fire_outcome(last) if last else "",
            ]
        )
    return format_table(["name", "cron", "zone", "status", "next fire", "last fire", "last"], rows)


def format_schedule(s: ScheduleView) -> str:
    """One schedule: its settings, template and next fires."""
    state = "paused" if s.paused else "active"
    nxt = ", ".join(_local(t, s.timezone) for t in s.next_fires) or "none"
    return (
        f"{s.name} ({s.id}), revision {s.revision}, {state}: {s.cron} in {s.timezone}\n"
        f"overlap {s.overlap.value}, catch-up {s.catchup.value}; task {s.task.kind} "
        f"{_cell(s.task.spec)}\nnext fires: {nxt}"
    )


def format_fires(fires: Sequence[ScheduleFireOut], zone: str) -> str:
    if not fires:
        return "No fires yet."
    rows = [
        [
            _local(f.slot, zone),
            "manual" if f.manual else "cron",
            _fire_outcome(f),
            f.task_id or "",
            f"{f.lateness * 1000:.0f} ms",
        ]
        for f in fires
    ]
    return format_table(["slot", "by", "outcome", "task", "late"], rows)
