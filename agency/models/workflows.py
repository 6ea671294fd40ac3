"""Workflows: a DAG of steps, each a task template, run with a checkpoint at every transition.

A *definition* names its params (with defaults) and its steps; a step has an ``id``, a
``task`` template of any kind (agent included), the steps it ``needs``, ``when`` it runs
(its needs all succeeded, one of them failed, or always), an optional ``map`` (one task per
item, fan-out) and an optional ``approval``. A *run* is one execution: its state, its
``version`` (incremented at every transition, the optimistic lock of client updates) and its
steps' states and task ids. The graph checks and the reference language are in
``agency.models.workflow_refs``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from agency.models.base import Role, Strict, utcnow
from agency.models.schedules import NAME_PATTERN, TaskTemplate

#: step ids appear in references (``steps.<id>.output``): no dots, no spaces
STEP_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
#: most steps one definition may hold, and most items one ``map`` may fan out to
MAX_STEPS = 200
MAX_ITEMS = 1000


class StepWhen(StrEnum):
    """When a step runs once all of its needs are final."""

    SUCCEEDED = "succeeded"  # every need succeeded (the default)
    FAILED = "failed"  # at least one need failed (a recovery branch)
    ALWAYS = "always"  # whatever they did


class RunState(StrEnum):
    """Where a workflow run is."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELED)


class StepState(StrEnum):
    """Where one step of a run is; ``skipped`` when its ``when`` did not hold."""

    PENDING = "pending"
    WAITING_APPROVAL = "waiting_approval"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self in FINAL_STEPS


FINAL_STEPS = frozenset(
    {StepState.SUCCEEDED, StepState.FAILED, StepState.SKIPPED, StepState.CANCELED}
)


class Approval(Strict):
    """A step that waits for an operator's decision before its tasks are submitted."""

    role: Role = Field(Role.OPERATOR, description="The weakest role that may decide.")
    distinct_from_submitter: bool = Field(
        False, description="The decider must not be who submitted the run (two-person rule)."
    )


class WorkflowStep(Strict):
    """One node of the DAG."""

    id: str = Field(min_length=1, max_length=100, pattern=STEP_PATTERN)
    task: TaskTemplate
    needs: list[str] = Field(default_factory=list, max_length=MAX_STEPS)
    when: StepWhen = StepWhen.SUCCEEDED
    map: list[Any] | str | None = Field(
        None,
        description="Items to fan out over (one task each, `{{ item }}` in the template), or "
        "a reference that gives a list (`{{ params.files }}`).",
    )
    approval: Approval | None = None


class WorkflowSpec(Strict):
    """A workflow's definition: its params (with their defaults) and its steps."""

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[WorkflowStep] = Field(min_length=1, max_length=MAX_STEPS)


class WorkflowRunIn(WorkflowSpec):
    """``POST /api/v1/workflows/runs``: run a definition given whole."""


class WorkflowRunParams(Strict):
    """``POST /api/v1/workflows/{name}/run``: the params of this run (over the defaults)."""

    params: dict[str, Any] = Field(default_factory=dict)


class Workflow(WorkflowSpec):
    """A saved definition at its latest revision."""

    revision: int = 1
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class WorkflowRevision(WorkflowSpec):
    """One revision of a saved definition."""

    revision: int
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)


class WorkflowList(BaseModel):
    """``GET /api/v1/workflows``: every saved definition, by name."""

    items: list[Workflow]


class WorkflowDetail(Workflow):
    """``GET /api/v1/workflows/{name}``: a definition with every revision, oldest first."""

    revisions: list[WorkflowRevision] = Field(default_factory=list)


class StepRun(BaseModel):
    """One step of a run: its state, its tasks (one per map item) and, once final, their
    trimmed stdout (``outputs``) that later steps reference."""

    id: str
    state: StepState = StepState.PENDING
    task_ids: list[str] = Field(default_factory=list)
    attempt: int = 1
    reason: str | None = None
    outputs: list[str] | None = None
    items: list[Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    decided_by: str | None = None


class WorkflowRun(BaseModel):
    """A run as stored: the definition it runs, with the params resolved."""

    id: str
    name: str
    revision: int | None = Field(None, description="Of the saved definition, if it came from one.")
    spec: WorkflowSpec
    params: dict[str, Any] = Field(default_factory=dict)
    state: RunState = RunState.PENDING
    version: int = 1
    reason: str | None = None
    cancel_requested: bool = False
    steps: list[StepRun] = Field(default_factory=list)
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    def step(self, step_id: str) -> StepRun:
        """The step's state (``KeyError`` for an id the definition does not have)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


class WorkflowRunList(BaseModel):
    """``GET /api/v1/workflows/runs``: runs, newest first."""

    items: list[WorkflowRun]


class StepDecisionIn(Strict):
    """Approve or reject a waiting step: why (audited), and the run version seen."""

    reason: str = Field(min_length=1, max_length=2000)
    version: int | None = Field(None, ge=1, description="Refused (409) if it is not current.")


class RunActionIn(Strict):
    """Cancel a run or retry a step: why (audited), and the run version seen."""

    reason: str | None = Field(None, max_length=2000)
    version: int | None = Field(None, ge=1, description="Refused (409) if it is not current.")


class ReplayDifference(BaseModel):
    """One field where the run rebuilt from events differs from the stored run."""

    path: str
    stored: Any = None
    replayed: Any = None


class WorkflowReplay(BaseModel):
    """``GET /api/v1/workflows/runs/{id}/replay``: the run rebuilt from its events."""

    consistent: bool
    events: int
    differences: list[ReplayDifference] = Field(default_factory=list)
    replayed: WorkflowRun | None = None
