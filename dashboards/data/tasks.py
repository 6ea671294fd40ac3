"""Data of the Tasks page: one page of a filtered list, a drill-down, actions, submit.

Plain functions taking a client, so the page calls them in a worker thread and tests call
them directly. Paging is by server cursor: the list never loads more than one page, which is
what keeps it fast with a million tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from agency.models import TERMINAL_STATES, TaskState

from .frames import one
from .times import aware

COLUMNS = [
    "id",
    "state",
    "kind",
    "worker_id",
    "priority",
    "attempt",
    "labels",
    "created_at",
    "reason",
]
SORTS = {
    "newest first": "-created_at",
    "oldest first": "created_at",
    "priority (high first)": "-priority",
    "recently updated": "-updated_at",
}
ACTIONS = ("cancel", "retry", "pause", "resume")


@dataclass(frozen=True)
class TaskFilter:
    """What the filter bar says; empty values filter nothing."""

    states: tuple[str, ...] = ()
    kind: str = ""
    worker: str = ""
    label: str = ""
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str = ""
    sort: str = "-created_at"
    limit: int = 50

    def query(self) -> dict[str, Any]:
        """Keyword arguments of ``client.list_tasks`` (only the set filters)."""
        args: dict[str, Any] = {"sort": self.sort, "limit": self.limit}
        if self.states:
            args["state"] = list(self.states)
        for key, value in (
            ("kind", self.kind),
            ("worker", self.worker),
            ("label", self.label),
            ("text", self.text),
        ):
            if value.strip():
                args[key] = value.strip()
        if self.created_after is not None:
            args["created_after"] = aware(self.created_after)
        if self.created_before is not None:
            args["created_before"] = aware(self.created_before)
        return args


@dataclass
class TaskPage:
    """One page of tasks in display form, and the cursor of the next one."""

    rows: pd.DataFrame
    next_cursor: str | None


def fetch_page(client: AgencyClient, flt: TaskFilter, cursor: str | None) -> TaskPage:
    """The page of tasks at ``cursor`` (``None``: the first page)."""
    args = flt.query()
    page = client.tasks_page(limit=args.pop("limit"), cursor=cursor, **args)
    return TaskPage(rows=display_rows(page.items), next_cursor=page.next_cursor)


def display_rows(items: Any) -> pd.DataFrame:
    """Tasks (models or a DataFrame) as the table shows them: short labels, readable times."""
    df = (
        items.copy() if isinstance(items, pd.DataFrame) else pd.DataFrame([one(t) for t in items])
    )
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    for col in COLUMNS:
        if col not in df:
            df[col] = None
    df["labels"] = df["labels"].map(_labels_text)
    df["state"] = df["state"].map(lambda s: getattr(s, "value", s))
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601").dt.strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    return df[COLUMNS].reset_index(drop=True)


def _labels_text(labels: Any) -> str:
    if isinstance(labels, str):
        text = labels
        try:
            labels = json.loads(text)
        except ValueError:
            return text
    if isinstance(labels, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return "" if labels is None else str(labels)


def is_terminal(state: str) -> bool:
    return TaskState(state) in TERMINAL_STATES


def allowed_actions(state: str) -> set[str]:
    """The buttons that make sense for a task in ``state`` (the server has the last word)."""
    s = TaskState(state)
    allowed: set[str] = set()
    if not s.terminal and s not in (TaskState.CANCEL_REQUESTED, TaskState.CANCELING):
        allowed.add("cancel")
    if s in (TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED, TaskState.ORPHANED):
        allowed.add("retry")
    if s is TaskState.PENDING:
        allowed.add("pause")
    if s is TaskState.PAUSED:
        allowed.add("resume")
    return allowed


def confirm_text(task: dict[str, Any], action: str, grace: float | None = None) -> str:
    """What the confirmation says will happen: the task, its worker, the consequence."""
    tid, state, worker = task["id"], task["state"], task.get("worker_id")
    where = f" on worker **{worker}**" if worker else ""
    if action == "cancel":
        if state in ("pending", "paused", "orphaned"):
            return f"Cancel task **{tid}** ({state}): it never runs again and ends **canceled**."
        kill = (
            f"SIGKILL after {grace:g} s" if grace is not None else "SIGKILL after the grace period"
        )
        return (
            f"Cancel task **{tid}** ({state}{where}): the worker is told to stop it, sends SIGTERM "
            f"then {kill}; the task ends **canceled** once its process is gone. Output so far is kept."
        )
    if action == "retry":
        return f"Retry task **{tid}** ({state}): it goes back to **pending** as a new attempt and runs again on any fitting worker."
    if action == "pause":
        return f"Pause task **{tid}**: it stays queued but is not dispatched until you resume it."
    if action == "resume":
        return f"Resume task **{tid}**: it goes back to **pending** and is dispatched in priority order."
    raise ValueError(f"unknown action {action!r}")


def run_action(client: AgencyClient, task_id: str, action: str, reason: str | None = None) -> Any:
    """Cancel, retry, pause or resume one task; returns the task as the server answers."""
    if action == "cancel":
        return client.cancel(task_id, reason=reason)
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return client.act(task_id, action, reason=reason)


def bulk_cancel(client: AgencyClient, flt: TaskFilter, dry_run: bool) -> tuple[int, list[str]]:
    """Cancel every task the filter's state/worker/label select; ``dry_run`` only counts."""
    result = client.bulk_cancel(
        states=list(flt.states) or None,
        worker_id=flt.worker.strip() or None,
        label=flt.label.strip() or None,
        dry_run=dry_run,
        reason="bulk cancel from the dashboard",
    )
    return int(result.count), list(result.task_ids)


@dataclass
class SubmitForm:
    """The submit form's fields as text, validated into a ``TaskSubmit`` by ``submit``."""

    kind: str
    spec: str
    labels: str = ""
    priority: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        text = self.spec.strip()
        if self.kind == "shell" and text and not text.startswith("{"):
            spec: dict[str, Any] = {"argv": text.split()}
        elif self.kind == "agent" and text and not text.startswith("{"):
            spec = {"prompt": text}
        else:
            spec = json.loads(text or "{}")
        labels = dict(
            part.split("=", 1) for part in self.labels.replace(";", ",").split(",") if "=" in part
        )
        return {
            "kind": self.kind,
            "spec": spec,
            "labels": {k.strip(): v.strip() for k, v in labels.items()},
            "priority": self.priority,
            **self.extra,
        }


def submit(client: AgencyClient, form: SubmitForm) -> str:
    """Submit the form's task; returns its id."""
    payload = form.payload()
    task = client.submit(payload.pop("kind"), payload.pop("spec"), **payload)
    return str(task.id)
