"""Data of one task's drill-down (part of the Tasks page): the task, its attempts, its
timeline, its output, and the cancel lifecycle as steps an operator can follow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from agency.models import Usage
from agency.models.runs import BUDGET_WAIT

from .timeline import Phase, phases

TIMELINE_COLUMNS = ["seq", "ts", "actor", "action", "from", "to", "reason"]
ATTEMPT_COLUMNS = [
    "attempt",
    "worker_id",
    "state",
    "exit_code",
    "reason",
    "started_at",
    "finished_at",
]

#: The visible cancel path of DESIGN.md: each step, the event action that proves it, a note.
CANCEL_STEPS = [
    (
        "cancel requested",
        "task.cancel_requested",
        "an operator asked; recorded before anything else",
    ),
    ("worker notified", "task.canceling", "the worker acknowledged and sent SIGTERM"),
    ("canceled", "task.canceled", "the process is gone (SIGKILL after the grace period if needed)"),
]


@dataclass
class Detail:
    """Everything the drill-down shows about one task."""

    task: dict[str, Any]
    attempts: pd.DataFrame
    timeline: pd.DataFrame
    usage: Usage | None = None  # agent tasks: summed over the attempts
    session_id: str | None = None  # agent tasks: the session a follow-up continues
    queue_paused: bool = False  # the whole queue is held: a pending task waits for that too
    #: each attempt's queue wait and run, from the events (see ``timeline.phases``)
    phases: list[Phase] = field(default_factory=list)


def load(client: AgencyClient, task_id: str) -> Detail:
    """The task with its attempts and event timeline, in display form."""
    got = client.task(task_id)
    task = got.task.model_dump(mode="json")
    # one more request only for a waiting task: whether the queue is paused is part of why
    paused = task["state"] == "pending" and client.queue_paused()
    attempts = pd.DataFrame(
        [a.model_dump(mode="json") for a in got.attempts], columns=ATTEMPT_COLUMNS
    )
    events = [e.model_dump(mode="json") for e in got.timeline]
    return Detail(
        task=task,
        attempts=attempts,
        timeline=timeline_rows(events),
        phases=phases(events),
        usage=got.usage,
        session_id=got.session_id,
        queue_paused=paused,
    )


def timeline_rows(events: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for e in events:
        details = e.get("details") or {}
        rows.append(
            {
                "seq": e.get("seq"),
                "ts": str(e.get("ts", ""))[:23].replace("T", " "),
                "actor": e.get("actor"),
                "action": e.get("action"),
                "from": details.get("from"),
                "to": details.get("to"),
                "reason": details.get("reason"),
            }
        )
    return pd.DataFrame(rows, columns=TIMELINE_COLUMNS)


def cancel_steps(timeline: pd.DataFrame, state: str) -> list[tuple[str, str, str]]:
    """(label, mark, note) per cancel step: ✓ done with its time, … in progress, ○ not yet.

    Empty when no cancel was ever requested, so the stepper only appears when it matters.
    The last request counts: a task retried after a cancel shows its latest cancel.
    """
    actions = list(timeline["action"]) if not timeline.empty else []
    if "task.cancel_requested" not in actions:
        return []
    start = len(actions) - 1 - actions[::-1].index("task.cancel_requested")
    recent = timeline.iloc[start:]
    steps: list[tuple[str, str, str]] = []
    waiting = False
    for label, action, note in CANCEL_STEPS:
        hit = recent[recent["action"] == action]
        if not hit.empty:
            steps.append((label, "✓", f"{hit.iloc[0]['ts']} · {note}"))
        elif state in ("succeeded", "failed", "orphaned") and not waiting:
            steps.append((label, "✗", f"the task ended {state} before this step"))
            waiting = True
        else:
            steps.append((label, "○" if waiting else "…", note))
            waiting = True
    return steps


def read_output(
    client: AgencyClient, task_id: str, offset: int, stream: str = "stdout"
) -> tuple[str, int, bool]:
    """``stream`` from ``offset``: (text, next offset, whether the stream is finished)."""
    out = client.output(task_id, stream=stream, offset=offset)
    return out.data, out.next_offset, out.eof


#: ``waiting_for`` entries in words (prefix: what it means); see control/tasks/waiting.py
WAIT_WORDS = {
    "labels:": "no worker carries the labels {}",
    "kind:": "no worker runs tasks of kind {}",
    "breaker:": "the circuit breaker of worker {} is open",
    "worker_down:": "worker {} is down",
    "budget:": "budget {} is reached",
}


def waiting_words(task: dict[str, Any], queue_paused: bool = False) -> str:
    """Why a pending task is not running, in plain words (empty when nothing holds it)."""
    if task.get("state") not in ("pending", "paused"):
        return ""
    words = []
    if task.get("state") == "paused":
        words.append("the task is paused (Resume it to queue it again)")
    if queue_paused:
        words.append("the queue is paused")
    for item in task.get("waiting_for") or []:
        text = str(item)
        for prefix, form in WAIT_WORDS.items():
            if text.startswith(prefix):
                words.append(form.format(text[len(prefix) :]))
                break
        else:
            if text == BUDGET_WAIT:
                words.append("its budget is reached (it was paused there)")
            elif text in (task.get("locks") or []):
                words.append(f"lock {text} is held by another task")
            else:
                words.append(text)
    return "; ".join(words)


def cost_text(usage: Usage | None) -> str:
    """`` · cost $0.0123`` for a task with a known cost, else empty."""
    cost = getattr(usage, "cost_usd", None)
    return f" · cost ${cost:,.4f}" if isinstance(cost, int | float) else ""


def ended_at(task: dict[str, Any]) -> datetime:
    """The attempt's end (or last change): the time of output read only after it ended."""
    for key in ("finished_at", "updated_at"):
        value = task.get(key)
        if value:
            stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return datetime.now(UTC)
