"""Agent runs as the control plane keeps them: per-attempt usage and cost, the stored
transcript, the stored workspace changes, and fleet budgets.

The worker serves ``TranscriptItem``, ``Usage`` and ``WorkspaceChanges`` (``agents.py``);
when an attempt ends the control plane copies them into these rows, so they outlive the
worker and feed the cost KPIs and the budgets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from agency.models.agents import FileChange, TranscriptItemType, Usage
from agency.models.base import Strict, utcnow

BudgetPeriod = Literal["hour", "day", "week", "month"]
PERIOD_SPAN: dict[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
}
#: reason prefix of a run stopped at its cap (the worker's and the control plane's)
BUDGET_EXCEEDED = "budget_exceeded"
#: ``waiting_for`` of a task paused at its budget (``on_budget: pause``) until an operator resumes it
BUDGET_WAIT = "budget"


class AgentRun(BaseModel):
    """One attempt of an agent task: where it ran, its session, tokens, cost and turns.

    ``cost_source`` says where ``cost_usd`` came from: ``runtime`` (it reported one),
    ``price_table`` (priced from ``AGENCY_MODEL_PRICES``) or ``none`` (unknown model).
    ``labels`` are the task's, copied so costs can be grouped by label.
    """

    task_id: str
    attempt: int
    worker_id: str | None = None
    runtime: str | None = None
    session_id: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    cost_source: Literal["runtime", "price_table", "none"] = "none"
    turns: int = 0
    labels: dict[str, str] = Field(default_factory=dict)
    finished_at: datetime = Field(default_factory=utcnow)

    def usage(self) -> Usage:
        """The run's usage in the worker's shape (``cost_usd`` as priced here)."""
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cost_usd=self.cost_usd,
            turns=self.turns,
            model=self.model,
        )


class StoredTranscriptItem(BaseModel):
    """A transcript item as stored and served: ``seq`` counts from 1 within its attempt."""

    task_id: str
    attempt: int
    seq: int
    time: datetime
    type: TranscriptItemType
    kind: str | None = None
    text: str | None = None
    tool_name: str | None = None
    tool_use_id: str | None = None
    input: Any = None
    output: Any = None
    error: str | None = None


class StoredChanges(BaseModel):
    """What one attempt changed in its workspace, as the worker reported it."""

    task_id: str
    attempt: int
    method: str
    root: str
    files: list[FileChange] = Field(default_factory=list)
    diff: str = ""
    truncated: bool = False
    cap_bytes: int = 0
    error: str | None = None


class TranscriptOut(BaseModel):
    """``GET /api/v1/tasks/{id}/transcript``: every item of every attempt, in order."""

    items: list[StoredTranscriptItem]


class ChangesOut(BaseModel):
    """``GET /api/v1/tasks/{id}/changes``: the latest attempt's changes; ``diff`` is cut at
    ``cap_bytes`` (the worker's ``AGENCY_CHANGES_MAX_BYTES``) and ``truncated`` says so."""

    task_id: str
    attempt: int = 0
    files: list[FileChange] = Field(default_factory=list)
    diff: str = ""
    truncated: bool = False
    cap_bytes: int = 0
    method: str | None = None
    error: str | None = None


class BudgetIn(Strict):
    """``POST /api/v1/budgets``: a cost cap over a period for tasks matching ``selector``.

    An empty selector matches every task; otherwise every ``key: value`` must be a label of
    the task. Once the period's spend of matching tasks reaches ``cap_usd``, new matching
    tasks wait as ``pending`` with ``waiting_for: ["budget:<id>"]``.
    """

    name: str = Field(min_length=1, max_length=200)
    selector: dict[str, str] = Field(default_factory=dict)
    period: BudgetPeriod = "day"
    cap_usd: float = Field(gt=0)


class Budget(BaseModel):
    """A fleet budget as stored (``spent_usd`` is filled in when it is read)."""

    id: str
    name: str
    selector: dict[str, str] = Field(default_factory=dict)
    period: BudgetPeriod = "day"
    cap_usd: float
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.selector.items())


class BudgetOut(Budget):
    """A budget with what matching tasks spent in its current period."""

    spent_usd: float = 0.0
    exceeded: bool = False


class BudgetList(BaseModel):
    items: list[BudgetOut]
