"""Data of the Workflows page: runs and their steps in display form, the step graph as SVG
(state colours, each step linked to its task), a step's task in short, and the actions
(approve, reject, retry, cancel) with the sentence a confirmation shows."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from agency.models.workflows import StepRun, StepState, WorkflowRun

RUN_COLUMNS = ["name", "state", "version", "steps", "created_by", "created_at", "id"]
STEP_COLUMNS = ["step", "state", "needs", "when", "tasks", "attempt", "reason"]
STATE_COLORS = {
    "pending": "#8c959f",
    "waiting_approval": "#9a6700",
    "running": "#0969da",
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "skipped": "#d0d7de",
    "canceled": "#57606a",
}
ACTIONS = ("approve", "reject", "retry", "cancel")
_W, _H, _GAP_X, _GAP_Y = 150, 44, 60, 22  # a node's size and the gaps of the graph


def runs(client: AgencyClient, limit: int = 200) -> pd.DataFrame:
    """Runs newest first, one row each."""
    df = client.workflow_runs(limit=limit)
    if df.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    df["created_at"] = df["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return df[RUN_COLUMNS]


def run(client: AgencyClient, run_id: str) -> WorkflowRun:
    return client.workflow_run(run_id)


def step_rows(wf: WorkflowRun) -> pd.DataFrame:
    """One row per step, in the definition's order."""
    specs = {s.id: s for s in wf.spec.steps}
    rows = [
        {
            "step": s.id,
            "state": s.state.value,
            "needs": ", ".join(specs[s.id].needs),
            "when": specs[s.id].when.value,
            "tasks": len(s.task_ids),
            "attempt": s.attempt,
            "reason": s.reason or "",
        }
        for s in wf.steps
    ]
    return pd.DataFrame(rows, columns=STEP_COLUMNS)


def levels(wf: WorkflowRun) -> dict[str, int]:
    """Each step's column in the graph: the length of its longest chain of needs."""
    needs = {s.id: s.needs for s in wf.spec.steps}
    out: dict[str, int] = {}

    def level(step_id: str) -> int:
        if step_id not in out:
            out[step_id] = 1 + max((level(n) for n in needs[step_id]), default=-1)
        return out[step_id]

    for s in wf.spec.steps:
        level(s.id)
    return out


def task_link(task_id: str) -> str:
    """Where the dashboard shows a task (the Tasks page, drilled down)."""
    return f"?page=tasks&task={task_id}"


def graph_svg(wf: WorkflowRun) -> str:
    """The steps as boxes by level, needs as arrows, coloured by state; a box with tasks
    links to its (first) task."""
    col = levels(wf)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for s in wf.spec.steps:
        r = rows.get(col[s.id], 0)
        rows[col[s.id]] = r + 1
        pos[s.id] = (20 + col[s.id] * (_W + _GAP_X), 20 + r * (_H + _GAP_Y))
    width = 40 + (max(col.values()) + 1) * (_W + _GAP_X)
    height = 40 + max(rows.values()) * (_H + _GAP_Y)
    parts = [
        f'<svg class="workflow-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#57606a"/></marker></defs>',
    ]
    for s in wf.spec.steps:
        x2, y2 = pos[s.id]
        for need in s.needs:
            x1, y1 = pos[need]
            parts.append(
                f'<line x1="{x1 + _W}" y1="{y1 + _H // 2}" x2="{x2}" y2="{y2 + _H // 2}" '
                'stroke="#57606a" marker-end="url(#arrow)"/>'
            )
    for step in wf.steps:
        parts.append(_node(step, *pos[step.id]))
    parts.append("</svg>")
    return "".join(parts)


def _node(step: StepRun, x: int, y: int) -> str:
    color = STATE_COLORS.get(step.state.value, "#8c959f")
    text = "#24292f" if step.state is StepState.SKIPPED else "#ffffff"
    count = f" ({len(step.task_ids)})" if len(step.task_ids) > 1 else ""
    box = (
        f'<g class="step step-{escape(step.id)}" data-state="{step.state.value}">'
        f'<title>{escape(step.id)}: {step.state.value}</title>'
        f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" fill="{color}"/>'
        f'<text x="{x + 8}" y="{y + 18}" fill="{text}" font-weight="bold">'
        f"{escape(step.id)}{count}</text>"
        f'<text x="{x + 8}" y="{y + 34}" fill="{text}">{step.state.value}</text></g>'
    )
    if step.task_ids:
        return f'<a href="{task_link(step.task_ids[0])}" target="_top">{box}</a>'
    return box


def step_detail(client: AgencyClient, wf: WorkflowRun, step_id: str) -> str:
    """A step's tasks in Markdown: state, links to the Tasks page, the start of the output."""
    step = wf.step(step_id)
    lines = [f"#### Step {step.id}: {step.state.value} (attempt {step.attempt})"]
    if step.reason:
        lines.append(f"Reason: {step.reason}")
    if step.decided_by:
        lines.append(f"Decided by {step.decided_by}")
    if not step.task_ids:
        lines.append("No task yet.")
    for task_id in step.task_ids[:20]:
        task = client.task(task_id).task
        out = client.output(task_id).data.strip().splitlines()
        shown = f" — `{escape(out[0][:120])}`" if out else ""
        lines.append(f"- [{task_id}]({task_link(task_id)}) {task.state.value}{shown}")
    return "\n\n".join(lines)


def confirm_text(action: str, wf: WorkflowRun, step: str | None) -> str:
    """What the confirmation asks, naming the run, the step and what follows."""
    if action == "cancel":
        running = [s.id for s in wf.steps if s.state is StepState.RUNNING]
        return (
            f"Cancel run **{wf.id}** of {wf.name}? The tasks of "
            f"{', '.join(running) or 'no running step'} are canceled and no other step starts."
        )
    if action == "retry":
        return (
            f"Retry step **{step}** of {wf.name}? It runs again as a new attempt, with the "
            "steps after it that did not succeed."
        )
    verb = "Approve" if action == "approve" else "Reject"
    then = "its tasks are submitted" if action == "approve" else "it fails"
    return f"{verb} step **{step}** of {wf.name}? Then {then}."


def act(
    client: AgencyClient, action: str, wf: WorkflowRun, step: str | None, reason: str
) -> str:
    """Do ``action`` at the version shown (a stale page is refused, not overridden)."""
    why = reason.strip() or None
    if action == "cancel":
        done = client.cancel_workflow(wf.id, why, wf.version)
        return f"Canceling run {done.id}."
    if step is None:
        return "Select a step first."
    if action == "retry":
        client.retry_workflow_step(wf.id, step, why, wf.version)
        return f"Retrying step {step}."
    if why is None:
        return "Not done: give a reason (it is audited)."
    if action == "approve":
        client.approve_workflow_step(wf.id, step, why, wf.version)
        return f"Approved step {step}."
    client.reject_workflow_step(wf.id, step, why, wf.version)
    return f"Rejected step {step}."
