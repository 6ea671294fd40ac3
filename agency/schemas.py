"""Request and response bodies of the HTTP API, shared by the server (agency.api) and the client.

They sit beside agency.models, below every other layer, so that agency.client (and through it
the dashboards and notebooks) never imports the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agency.models import ApiToken, Attempt, Event, Role, Task, TaskState, TaskSubmit, WorkerInfo


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentHealth(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class HealthOut(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    version: str
    uptime_s: float
    components: dict[str, ComponentHealth]


class TaskBatch(_In):
    """A batch submit: every task lands in one transaction, or none does."""

    tasks: list[TaskSubmit] = Field(min_length=1, max_length=1000)


class TaskList(BaseModel):
    items: list[Task]
    next_cursor: str | None = None


class TaskDetail(BaseModel):
    task: Task
    attempts: list[Attempt]
    timeline: list[Event]


class CancelIn(_In):
    reason: str | None = Field(None, max_length=1000)


class ActionIn(_In):
    action: Literal["pause", "resume", "retry", "abort", "reprioritize"]
    reason: str | None = Field(None, max_length=1000)
    priority: int | None = Field(None, ge=-1000, le=1000)


class BulkCancelIn(_In):
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


class QueueIn(_In):
    reason: str | None = Field(None, max_length=1000)


class QueueOut(BaseModel):
    paused: bool


class WorkerActionIn(_In):
    reason: str | None = Field(None, max_length=1000)


class WorkerList(BaseModel):
    items: list[WorkerInfo]


class AuditPage(BaseModel):
    items: list[Event]
    next_cursor: str | None = None


class ChainReportOut(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None


class ReplayOut(BaseModel):
    task: Task
    stored: Task
    matches: bool
    differences: dict[str, dict[str, Any]] = Field(default_factory=dict)


class WaiverRequestIn(_In):
    task_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)


class WaiverDecisionIn(_In):
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

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls.model_validate(token.model_dump(exclude={"token_hash"}))


class TokenCreateIn(_In):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The bearer token; shown once, stored only as a hash.")


class WhoAmI(BaseModel):
    name: str
    role: Role
    token_id: str
