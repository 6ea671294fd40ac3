"""Data of one task's drill-down (part of the Tasks page): the task, its attempts, its
timeline, its output, and the cancel lifecycle as steps an operator can follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from agency.models import Usage

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


def load(client: AgencyClient, task_id: str) -> Detail:
    """The task with its attempts and event timeline, in display form."""
    got = client.task(task_id)
    task = got.task.model_dump(mode="json")
    attempts = pd.DataFrame(
        [a.model_dump(mode="json") for a in got.attempts], columns=ATTEMPT_COLUMNS
    )
    return Detail(
        task=task,
        attempts=attempts,
        timeline=timeline_rows([e.model_dump(mode="json") for e in got.timeline]),
        usage=got.usage,
        session_id=got.session_id,
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


def read_output(client: AgencyClient, task_id: str, offset: int) -> tuple[str, int, bool]:
    """Stdout from ``offset``: (text, next offset, whether the stream is finished)."""
    out = client.output(task_id, stream="stdout", offset=offset)
    return out.data, out.next_offset, out.eof
