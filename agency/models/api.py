"""Request and response bodies of the HTTP API, shared by the server (agency.api) and the client.

They sit in agency.models, below every other layer, so that agency.client (and through it the
dashboards and notebooks) builds every body with the model the server parses it with, and never
imports the server. Request bodies refuse unknown fields (``Strict``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag

from agency.models.agents import Usage
from agency.models.base import Role, Strict
from agency.models.events import Event
from agency.models.records import ApiToken
from agency.models.tasks import Attempt, Task, TaskState, TaskSubmit
from agency.models.workers import WorkerInfo, WorkerProtocol, WorkerRegistration, WorkerTLS

# no spaces: saved-query and runbook names are typed on the command line
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_SQL = 100_000


class ComponentHealth(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class HealthOut(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    uptime_s: float
    components: dict[str, ComponentHealth]


class TaskBatch(Strict):
    """A batch submit: every task lands in one transaction, or none does."""

    tasks: list[TaskSubmit] = Field(min_length=1, max_length=1000)


def _submit_shape(body: Any) -> str | None:
    """Which shape a submit body has, so errors speak of that shape only (not every member)."""
    if isinstance(body, list):
        return "list[TaskSubmit]"
    if isinstance(body, dict):
        return "TaskBatch" if "tasks" in body else "TaskSubmit"
    if isinstance(body, TaskBatch | TaskSubmit):
        return type(body).__name__
    return None


SubmitBody = Annotated[
    Annotated[TaskSubmit, Tag("TaskSubmit")]
    | Annotated[TaskBatch, Tag("TaskBatch")]
    | Annotated[list[TaskSubmit], Field(min_length=1, max_length=1000), Tag("list[TaskSubmit]")],
    Discriminator(_submit_shape),
]
"""``POST /api/v1/tasks``: one task, a batch ``{"tasks": [...]}`` or the bare list ``[...]``.

The discriminator picks the member by the body's shape, so a bad body is reported against
that shape alone (a list's errors are not mixed with "must be an object")."""


class TaskRow(Task):
    """A task as ``GET /api/v1/tasks`` lists it: the task, and for an agent task its
    ``usage`` (tokens and cost summed over its attempts, the running one's so far included;
    ``None`` for tasks with no agent run)."""

    usage: Usage | None = None


class TaskList(BaseModel):
    items: list[TaskRow]
    next_cursor: str | None = None


class TaskDetail(BaseModel):
    """``GET /api/v1/tasks/{id}``: the task, its attempts and events; an agent task's
    ``usage`` (summed over its attempts) and ``session_id`` (to continue it)."""

    task: Task
    attempts: list[Attempt]
    timeline: list[Event]
    usage: Usage | None = None
    session_id: str | None = None
    children: list[str] = Field(
        default_factory=list, description="Ids of the tasks this one delegated, oldest first."
    )


class CancelIn(Strict):
    reason: str | None = Field(None, max_length=1000)


class ActionIn(Strict):
    action: Literal["pause", "resume", "retry", "abort", "reprioritize"]
    reason: str | None = Field(None, max_length=1000)
    priority: int | None = Field(None, ge=-1000, le=1000)
    # resume of an agent task paused at its budget: the caps of its next attempts, raised
    max_cost_usd: float | None = Field(None, gt=0)
    max_turns: int | None = Field(None, ge=1, le=100_000)


class BulkCancelIn(Strict):
    states: list[TaskState] | None = None
    worker_id: str | None = None
    label: str | None = Field(None, pattern=r"^[^=]+=.*$", description="`key=value`")
    older_than_s: float | None = Field(None, ge=0)
    dry_run: bool = True
    reason: str | None = Field(None, max_length=1000)


class BulkCancelOut(BaseModel):
    count: int
    task_ids: list[str]
    dry_run: bool


class QueueIn(Strict):
    reason: str | None = Field(None, max_length=1000)


class QueueOut(BaseModel):
    paused: bool


class WorkerActionIn(Strict):
    reason: str | None = Field(None, max_length=1000)


class WorkerAttachIn(Strict):
    """``POST /api/v1/workers``: an operator attaches a worker that does not register itself,
    such as an ``ag-agent-claude`` (``protocol: agency-agent``, one agent task at a time)."""

    id: str = Field(min_length=1, max_length=128)
    url: str
    protocol: WorkerProtocol = "agency-agent"
    tls: WorkerTLS | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    kinds: list[str] = Field(default_factory=lambda: ["agent"])
    capacity: int = Field(1, ge=1)

    def registration(self) -> WorkerRegistration:
        # an agent runs one task at a time and only agent tasks, whatever the body says
        agent = self.protocol == "agency-agent"
        return WorkerRegistration(
            id=self.id,
            url=self.url,
            kinds=["agent"] if agent else list(self.kinds),
            capacity=1 if agent else self.capacity,
            labels=dict(self.labels),
            version="",
            protocol=self.protocol,
            tls=self.tls,
        )


class WorkerList(BaseModel):
    items: list[WorkerInfo]


class AuditPage(BaseModel):
    items: list[Event]
    next_cursor: str | None = None


class ChainReportOut(BaseModel):
    """The hash chain's check, and its comparison with the signed checkpoints."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints_checked: int = 0
    # [first, last] lists, not tuples: a tuple's ``prefixItems`` schema is refused by
    # OpenAPI tooling (schemathesis reads it as an invalid Schema Object)
    missing: list[int] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Seq range [first, last] (inclusive) a checkpoint proves was deleted.",
    )
    rewritten: list[int] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="Seq range [first, last] (inclusive) in which a checkpoint proves a rewrite.",
    )


class ReplayOut(BaseModel):
    task: Task
    stored: Task
    matches: bool
    differences: dict[str, dict[str, Any]] = Field(default_factory=dict)


class WaiverRequestIn(Strict):
    task_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)


class WaiverDecisionIn(Strict):
    approve: bool
    reason: str = Field(min_length=1, max_length=2000)


class TokenOut(BaseModel):
    """A token's record without its hash."""

    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_addr: str | None = None
    rotated_at: datetime | None = None
    previous_valid_until: datetime | None = Field(
        None, description="Until when the secret replaced by the last rotation still works."
    )

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls.model_validate(token.model_dump(exclude={"token_hash", "previous_hash"}))


class TokenCreateIn(Strict):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    expires_at: datetime | None = Field(None, description="When the token stops working.")


class TokenRotateIn(Strict):
    grace_seconds: float = Field(
        3600.0, ge=0, le=30 * 86400, description="How long the old secret keeps working."
    )


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The bearer token; shown once, stored only as a hash.")


class WhoAmI(BaseModel):
    name: str
    role: Role
    token_id: str


# --- chat, saved queries, alerts, runbook runs ---------------------------------------------


class SessionCreate(Strict):
    """A new chat session; its owner is the token's name."""

    title: str = Field("", max_length=200)


class QueryCreate(Strict):
    """A new saved query; ``parameters`` holds each ``$name`` parameter's default value."""

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    sql: str = Field(min_length=1, max_length=MAX_SQL)
    description: str = Field("", max_length=10_000)
    parameters: dict[str, Any] = Field(default_factory=dict)


class QueryUpdate(Strict):
    """Fields to change; each update is a new revision."""

    name: str | None = Field(None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    sql: str | None = Field(None, min_length=1, max_length=MAX_SQL)
    description: str | None = Field(None, max_length=10_000)
    parameters: dict[str, Any] | None = None


class QueryRunRequest(Strict):
    """Parameter values of one run, over the saved defaults."""

    parameters: dict[str, Any] = Field(default_factory=dict)


class AdhocQuery(Strict):
    """One read-only statement from a notebook, with ``$name`` parameters."""

    sql: str = Field(min_length=1, max_length=MAX_SQL)
    parameters: dict[str, Any] = Field(default_factory=dict)


class AlertAction(Strict):
    """Why the alert was acknowledged or dismissed (kept in the event)."""

    reason: str | None = Field(None, max_length=2000)


class RunbookRunIn(Strict):
    """The outcome of one runbook execution, as the runner saw it."""

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=NAME_PATTERN,
        description="Runbook name (the notebook's file name without `.ipynb`), as asked for.",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters as given (secrets left out)."
    )
    output_path: str | None = Field(
        None, max_length=4096, description="The executed notebook, on the runner's machine."
    )
    status: Literal["succeeded", "failed"]
    error: str | None = Field(None, max_length=20_000)
    started_at: datetime | None = Field(None, description="Default: now minus `duration_s`.")
    duration_s: float | None = Field(None, ge=0)
