"""Data of the timelines: one task's life in phases (queue wait, start, run per attempt), from
its events, and the fleet's bars (which worker ran what, and when), from the timeline API.

Times are UTC; chart coordinates are milliseconds since the epoch (what Bokeh's datetime
axis reads), so the chart modules never convert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from agency.models import IN_FLIGHT_STATES
from agency.models.timeline import TimelineBar

from .times import instant

#: the colour of each part of a bar: waiting in the queue, being started, and the run by outcome
WAIT_COLOR = "#d4a72c"
START_COLOR = "#8dc7ff"
OUTCOME_COLORS = {
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "canceled": "#8c959f",
    "rejected": "#bc4c00",
    "orphaned": "#9a6700",
    "pending": "#8c959f",
    "paused": "#8c959f",
    "running": "#0969da",
    "dispatched": "#0969da",
    "cancel_requested": "#8250df",
    "canceling": "#8250df",
}
LIVE = frozenset(s.value for s in IN_FLIGHT_STATES)
#: the key under the task's chart: what each colour means
PHASE_KEY = [
    ("queue wait", WAIT_COLOR),
    ("starting", START_COLOR),
    ("running", OUTCOME_COLORS["running"]),
    ("succeeded", OUTCOME_COLORS["succeeded"]),
    ("failed", OUTCOME_COLORS["failed"]),
    ("canceled", OUTCOME_COLORS["canceled"]),
]

#: the key under the fleet chart: a bar's colour is its attempt's outcome
FLEET_KEY = [
    ("in flight", OUTCOME_COLORS["running"]),
    ("succeeded", OUTCOME_COLORS["succeeded"]),
    ("failed", OUTCOME_COLORS["failed"]),
    ("canceled", OUTCOME_COLORS["canceled"]),
    ("orphaned", OUTCOME_COLORS["orphaned"]),
    ("rejected", OUTCOME_COLORS["rejected"]),
]


def key_html(items: list[tuple[str, str]]) -> str:
    """A one-line colour key: a swatch and a word per item."""
    return " ".join(
        f'<span style="display:inline-block;margin-right:12px;font-size:12px">'
        f'<span style="display:inline-block;width:10px;height:10px;background:{color};'
        f'margin-right:4px;vertical-align:middle"></span>{word}</span>'
        for word, color in items
    )
PHASE_COLUMNS = ["row", "part", "left", "right", "color", "task_id", "note", "open"]
FLEET_COLUMNS = [
    "worker_id",
    "task_id",
    "attempt",
    "kind",
    "command",
    "state",
    "reason",
    "started",
    "duration",
    "left",
    "right",
    "color",
    "open",
]


@dataclass
class Phase:
    """One attempt of a task: queued, dispatched, running, ended (``None``: not yet)."""

    attempt: int
    queued_at: datetime
    dispatched_at: datetime | None = None
    running_at: datetime | None = None
    ended_at: datetime | None = None
    worker_id: str | None = None
    outcome: str | None = None  # the state the attempt ended in
    reason: str | None = None

    def wait_s(self, now: datetime) -> float:
        return _seconds(self.queued_at, self.dispatched_at or self.ended_at or now)

    def run_s(self, now: datetime) -> float | None:
        start = self.running_at or self.dispatched_at
        return None if start is None else _seconds(start, self.ended_at or now)


def _seconds(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())


def _when(value: Any, fallback: datetime) -> datetime:
    stamp = instant(value)
    return stamp.to_pydatetime() if stamp is not None else fallback


def phases(events: list[dict[str, Any]]) -> list[Phase]:
    """The attempts of a task from its events, oldest first; a last phase with no dispatch
    is the wait going on now (or a wait that ended without a run: canceled while queued).

    An event's ``details.to`` is the state it moved the task to. Entering ``pending`` starts
    a wait; ``dispatched`` ends it and starts an attempt on ``details.worker_id``; ``running``
    marks the process start; leaving flight ends the attempt in that state. A dispatch the
    worker refused (back to ``pending`` before it ran) is no attempt: the wait goes on.
    """
    out: list[Phase] = []
    wait: Phase | None = None
    cur: Phase | None = None
    for e in events:
        details = e.get("details") or {}
        to = details.get("to")
        if to is None:
            continue
        ts = _when(e.get("ts"), datetime.now(UTC))
        if cur is not None:
            if to == "running":
                cur.running_at = _when(details.get("started_at"), ts)
            elif to == "pending" and cur.running_at is None and details.get("from") == "dispatched":
                wait, cur = Phase(cur.attempt, cur.queued_at), None
            elif to not in LIVE:
                cur.ended_at = _when(details.get("finished_at"), ts)
                cur.outcome, cur.reason = to, details.get("reason")
                out.append(cur)
                cur = None
        elif to == "pending":
            if wait is None:
                wait = Phase(int(details.get("attempt") or 0) + 1, ts)
        elif to == "dispatched":
            cur = Phase(
                int(details.get("attempt") or len(out) + 1),
                wait.queued_at if wait is not None else ts,
                dispatched_at=_when(details.get("dispatched_at"), ts),
                worker_id=details.get("worker_id"),
            )
            wait = None
        elif wait is not None and to != "paused":
            # ended while queued: canceled, or failed by its deadline
            wait.ended_at, wait.outcome, wait.reason = ts, to, details.get("reason")
            out.append(wait)
            wait = None
    if cur is not None:
        out.append(cur)
    elif wait is not None:
        out.append(wait)
    return out


def seconds_text(seconds: float) -> str:
    """``12 ms``, ``1.35 s``, ``12.4 s``, ``3 min 05 s``, ``2 h 04 min``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def phase_line(p: Phase, max_attempts: int, now: datetime) -> str:
    """``attempt 2/3: waited 1.20 s, ran 3.40 s on w1, failed (exit code 7)``."""
    head = f"attempt {p.attempt}/{max_attempts}"
    if p.dispatched_at is None:
        if p.ended_at is None:
            return f"{head}: waiting for {seconds_text(p.wait_s(now))} so far"
        return f"{head}: waited {seconds_text(p.wait_s(now))}, then {p.outcome} before it ran"
    ran = p.run_s(now) or 0.0
    where = f" on {p.worker_id}" if p.worker_id else ""
    if p.ended_at is None:
        return (
            f"{head}: waited {seconds_text(p.wait_s(now))}, running for {seconds_text(ran)}{where}"
        )
    why = f" ({p.reason})" if p.reason else ""
    return f"{head}: waited {seconds_text(p.wait_s(now))}, ran {seconds_text(ran)}{where}, {p.outcome}{why}"


def totals_line(ps: list[Phase], now: datetime) -> str:
    """The whole life: the time waited and run over every attempt, first wait to the end."""
    if not ps:
        return ""
    waited = sum(p.wait_s(now) for p in ps)
    ran = sum(p.run_s(now) or 0.0 for p in ps)
    span = _seconds(ps[0].queued_at, ps[-1].ended_at or now)
    tried = sum(1 for p in ps if p.dispatched_at is not None)
    return (
        f"in all: waited {seconds_text(waited)}, ran {seconds_text(ran)} over "
        f"{tried} attempt{'s' if tried != 1 else ''}; {seconds_text(span)} from queued to "
        f"{'now' if ps[-1].ended_at is None else 'the end'}"
    )


def _ms(t: datetime) -> float:
    return t.timestamp() * 1000.0


def phase_frame(ps: list[Phase], now: datetime) -> pd.DataFrame:
    """The chart's bars: per attempt a queue-wait bar, a start bar (dispatched to running)
    and a run bar coloured by outcome; ``open`` bars end at ``now`` and grow while live."""
    rows: list[dict[str, Any]] = []
    for p in ps:
        row = f"attempt {p.attempt}" + (f" · {p.worker_id}" if p.worker_id else "")
        end_wait = p.dispatched_at or p.ended_at
        rows.append(
            _bar(
                row,
                "queue wait",
                p.queued_at,
                end_wait,
                WAIT_COLOR,
                now,
                f"waited {seconds_text(p.wait_s(now))}",
            )
        )
        if p.dispatched_at is not None and p.running_at is not None:
            rows.append(
                _bar(
                    row,
                    "starting",
                    p.dispatched_at,
                    p.running_at,
                    START_COLOR,
                    now,
                    f"started in {seconds_text(_seconds(p.dispatched_at, p.running_at))}",
                )
            )
        if p.dispatched_at is not None:
            color = OUTCOME_COLORS.get(p.outcome or "running", OUTCOME_COLORS["running"])
            note = f"{'ran' if p.ended_at else 'running'} {seconds_text(p.run_s(now) or 0.0)}"
            rows.append(
                _bar(
                    row,
                    f"run ({p.outcome or 'running'})",
                    p.running_at or p.dispatched_at,
                    p.ended_at,
                    color,
                    now,
                    note,
                )
            )
    return pd.DataFrame(rows, columns=PHASE_COLUMNS)


def _bar(
    row: str,
    part: str,
    left: datetime,
    right: datetime | None,
    color: str,
    now: datetime,
    note: str,
) -> dict[str, Any]:
    return {
        "row": row,
        "part": part,
        "left": _ms(left),
        "right": _ms(right or now),
        "color": color,
        "task_id": "",
        "note": note,
        "open": right is None,
    }


def fleet_frame(items: list[TimelineBar], now: datetime) -> pd.DataFrame:
    """One row per bar of the fleet timeline; in-flight bars end at ``now`` (``open``)."""
    rows = []
    for b in items:
        end = b.finished_at
        state = b.state.value
        rows.append(
            {
                "worker_id": b.worker_id,
                "task_id": b.task_id,
                "attempt": b.attempt,
                "kind": b.kind,
                "command": b.command,
                "state": state,
                "reason": b.reason or "",
                "started": b.started_at.astimezone(UTC).strftime("%H:%M:%S"),
                "duration": seconds_text(_seconds(b.started_at, end or now)),
                "left": _ms(b.started_at),
                "right": _ms(end or now),
                "color": OUTCOME_COLORS.get(state, OUTCOME_COLORS["running"]),
                "open": end is None,
            }
        )
    return pd.DataFrame(rows, columns=FLEET_COLUMNS)
