"""Data of the Tasks page: one page of a filtered list, a drill-down, actions, submit.

Plain functions taking a client, so the page calls them in a worker thread and tests call
them directly. Paging is by server cursor: the list never loads more than one page, which is
what keeps it fast with a million tasks.
"""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from agency.models import TERMINAL_STATES, TaskState
from agency.models.schedules import PROVENANCE_LABELS
from agency.models.timeline import command_text

from .frames import one
from .times import aware, instant

COLUMNS = [
    "id",
    "state",
    "kind",
    "command",
    "worker_id",
    "attempt",
    "retries",
    "duration",
    "cost",
    "created",
    "reason",
    "priority",
    "labels",
    "created_at",
]
#: kept in the rows (the Labels filter, the spec tab show them) but not shown as columns, so
#: that the command and the reason have room at 1440 px beside the drill-down
HIDDEN = ["created_at", "priority", "labels"]
#: the colours of the state cells (GitHub's palette: green done, red failed, blue moving)
STATE_COLORS = {
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "rejected": "#cf222e",
    "orphaned": "#bc4c00",
    "canceled": "#6e7781",
    "cancel_requested": "#bc4c00",
    "canceling": "#bc4c00",
    "running": "#0969da",
    "dispatched": "#0969da",
    "pending": "#9a6700",
    "paused": "#8250df",
}
COMMAND_CHARS = 80  # the command cell's text; the whole spec is in the drill-down
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


def display_rows(items: Any, now: datetime | None = None) -> pd.DataFrame:
    """Tasks (models or a DataFrame) as the table shows them: short labels, the command or
    prompt, attempt of max, retries, duration, an agent task's cost (tokens on hover),
    relative times (absolute on hover), and the reason with what the task waits for."""
    df = items.copy() if isinstance(items, pd.DataFrame) else pd.DataFrame([one(t) for t in items])
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    now = now or datetime.now(UTC)
    records = df.to_dict("records")
    df["command"] = [command_text(r.get("kind"), r.get("spec"), COMMAND_CHARS) for r in records]
    df["attempt"] = [_attempt_text(r.get("attempt"), r.get("max_attempts")) for r in records]
    df["retries"] = [max(0, int(_num(r.get("attempt"))) - 1) for r in records]
    df["duration"] = [
        duration_text(r.get("started_at"), r.get("finished_at"), now) for r in records
    ]
    df["reason"] = [reason_text(r.get("reason"), r.get("waiting_for")) for r in records]
    df["cost"] = [cost_html(r.get("usage")) for r in records]
    for col in COLUMNS:
        if col not in df:
            df[col] = None
    df["labels"] = df["labels"].map(_labels_text)
    df["worker_id"] = df["worker_id"].map(lambda w: w if isinstance(w, str) else "")
    df["state"] = df["state"].map(lambda s: getattr(s, "value", s))
    created = pd.to_datetime(df["created_at"], utc=True, format="ISO8601")
    df["created_at"] = created.dt.strftime("%Y-%m-%d %H:%M:%S")
    df["created"] = [
        f'<span title="{a} UTC">{relative(c.to_pydatetime(), now)}</span>'
        for a, c in zip(df["created_at"], created, strict=True)
    ]
    return df[COLUMNS].reset_index(drop=True)


def cost_text(cost: float) -> str:
    """USD as the list shows it: cents from a cent up (``$1,234.50``), four places below."""
    if cost >= 0.01 or cost == 0:
        return f"${cost:,.2f}"
    return f"${cost:.4f}"


def cost_html(usage: Any) -> str:
    """An agent task's cost, its tokens and model on hover; empty for tasks with no run."""
    if not isinstance(usage, dict):
        return ""
    tokens = sum(
        int(_num(usage.get(f"{k}_tokens")))
        for k in ("input", "output", "cache_read", "cache_write")
    )
    model = usage.get("model") or "unknown model"
    tip = html.escape(f"{tokens:,} tokens · {int(_num(usage.get('turns')))} turns · {model}")
    return f'<span class="task-cost" title="{tip}">{cost_text(_num(usage.get("cost_usd")))}</span>'


def reason_text(reason: Any, waiting_for: Any) -> str:
    """The reason, and what a waiting task waits for when the reason does not say it yet."""
    said: str = reason if isinstance(reason, str) else ""
    if isinstance(waiting_for, str):
        try:
            waiting_for = json.loads(waiting_for)
        except ValueError:
            waiting_for = [waiting_for]
    waits = [str(w) for w in waiting_for] if isinstance(waiting_for, list | tuple) else []
    missing = [w for w in waits if w not in said]
    if missing:
        wait = "waiting for " + ", ".join(missing)
        return f"{said} · {wait}" if said else wait
    return said


def relative(then: datetime | None, now: datetime) -> str:
    """``12 s ago``, ``3 min ago``, ``2 h ago``, ``4 d ago`` (``-`` for no time)."""
    if then is None or pd.isna(then):
        return "-"
    # one unit, as the "3 min ago": the column is narrow and the hover has the rest
    s = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit} ago"
    return f"{s} s ago"


def duration_text(started: Any, finished: Any, now: datetime) -> str:
    """How long the attempt ran (or has run so far); empty before it started."""
    start = instant(started)
    if start is None:
        return ""
    end = instant(finished) or pd.Timestamp(now)
    return duration_words((end - start).total_seconds())


def duration_words(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s < 600 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _num(value: Any) -> float:
    try:
        return 0.0 if value is None or pd.isna(value) else float(value)
    except (TypeError, ValueError):
        return 0.0


def _attempt_text(attempt: Any, max_attempts: Any) -> str:
    a, m = int(_num(attempt)), int(_num(max_attempts))
    return f"{a}/{m}" if m else str(a)


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


def bulk_cancel(
    client: AgencyClient, flt: TaskFilter, dry_run: bool, reason: str | None = None
) -> tuple[int, list[str]]:
    """Cancel every task the filter's state/worker/label select; ``dry_run`` only counts."""
    result = client.bulk_cancel(
        states=list(flt.states) or None,
        worker_id=flt.worker.strip() or None,
        label=flt.label.strip() or None,
        dry_run=dry_run,
        reason=reason or "bulk cancel from the dashboard",
    )
    return int(result.count), list(result.task_ids)


def bulk_words(flt: TaskFilter) -> str:
    """What a bulk cancel selects, in plain words: ``state running or pending, label a=b``."""
    parts = [
        f"state {' or '.join(flt.states)}" if flt.states else "",
        f"worker {flt.worker.strip()}" if flt.worker.strip() else "",
        f"label {flt.label.strip()}" if flt.label.strip() else "",
    ]
    return ", ".join(p for p in parts if p)


#: the filter fields and the URL parameters that carry them (``?page=tasks&state=running``)
URL_FIELDS = ("state", "kind", "worker", "label", "text", "sort", "rows", "task")


def url_params(flt: TaskFilter, task_id: str | None) -> dict[str, str]:
    """The filter and the open task as URL query parameters (only the set ones)."""
    params = {
        "state": ",".join(flt.states),
        "kind": flt.kind,
        "worker": flt.worker.strip(),
        "label": flt.label.strip(),
        "text": flt.text.strip(),
        "sort": "" if flt.sort == "-created_at" else flt.sort,
        "rows": "" if flt.limit == 50 else str(flt.limit),
        "task": task_id or "",
    }
    return {k: v for k, v in params.items() if v}


def from_url(params: dict[str, str]) -> dict[str, Any]:
    """URL query parameters back into filter values (unknown or bad values are dropped)."""
    states = [s for s in params.get("state", "").split(",") if s in TaskState._value2member_map_]
    out: dict[str, Any] = {
        "states": states,
        "kind": params.get("kind", ""),
        "worker": params.get("worker", ""),
        "label": params.get("label", ""),
        "text": params.get("text", ""),
        "sort": params.get("sort") if params.get("sort") in SORTS.values() else "-created_at",
        "task": params.get("task") or None,
    }
    rows = params.get("rows", "")
    out["limit"] = int(rows) if rows.isdigit() and int(rows) in (50, 100, 250, 500) else 50
    return out


@dataclass
class SubmitForm:
    """The submit form's fields as text, validated into a ``TaskSubmit`` by ``submit``."""

    kind: str
    spec: str
    labels: str = ""
    priority: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The ``POST /tasks`` body; ``ValueError`` saying what is wrong with the spec."""
        text = self.spec.strip()
        if self.kind == "shell" and text and not text.startswith("{"):
            spec: dict[str, Any] = {"argv": parse_command(text)}
        elif self.kind == "agent" and text and not text.startswith("{"):
            spec = {"prompt": text}
        else:
            try:
                spec = json.loads(text or "{}")
            except ValueError as exc:
                raise ValueError(f"spec: not valid JSON ({exc})") from None
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


def parse_command(text: str) -> list[str]:
    """A command line split as a POSIX shell would (quotes group, ``\\`` escapes), without
    running a shell; ``ValueError("command: …")`` for an unbalanced quote or an empty line."""
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"command: {exc} (check the quotes)") from None
    if not argv:
        raise ValueError("command: empty")
    return argv


def preview(form: SubmitForm) -> str:
    """What will run, shown before submitting: the argv list of a shell command (or the
    parse error), the prompt of an agent task, or the JSON spec."""
    try:
        spec = form.payload()["spec"]
    except ValueError as exc:
        return f"error: {exc}"
    if "argv" in spec:
        return "argv: " + json.dumps(spec["argv"])
    return "spec: " + json.dumps(spec)


def who_would_take(workers: list[Any], form: SubmitForm) -> str:
    """Which workers fit the form's kind and labels (healthy, breaker not open), in words;
    the dispatcher picks among them the least loaded when the task's turn comes."""
    try:
        labels = form.payload()["labels"]
    except ValueError:
        labels = {}
    fit = [
        w
        for w in workers
        if form.kind in w.kinds
        and all(w.labels.get(k) == v for k, v in labels.items() if k not in PROVENANCE_LABELS)
    ]
    ready = [w for w in fit if w.health.value == "healthy" and w.breaker != "open"]
    if not fit:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return f"no worker carries kind {form.kind}" + (f" with {wanted}" if wanted else "")
    if not ready:
        return "only unavailable workers fit: " + ", ".join(w.id for w in fit)
    return "would run on " + ", ".join(
        f"{w.id} ({max(0, w.capacity - w.running)}/{w.capacity} free)" for w in ready
    )


def submit(client: AgencyClient, form: SubmitForm) -> str:
    """Submit the form's task; returns its id."""
    payload = form.payload()
    task = client.submit(payload.pop("kind"), payload.pop("spec"), **payload)
    return str(task.id)
