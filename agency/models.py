"""Pydantic models shared by the control plane, the client and the worker.

Holds the task lifecycle (``TaskState`` and its table of legal transitions), the task and
its policies, the audit event, the worker protocol messages, and the records of chat,
saved queries, alerts, waivers and runbook runs.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agency.errors import InvalidSpec, InvalidTransition

__version__ = "0.1.0"


def utcnow() -> datetime:
    """Timezone-aware now in UTC; every stored time is UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A 24-hex-digit id that sorts by creation time (ms clock, then 48 random bits)."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    """Token roles, weakest first; a role includes every weaker one (worker is apart)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    WORKER = "worker"

    def allows(self, needed: Role) -> bool:
        if self is Role.WORKER or needed is Role.WORKER:
            return self is needed or self is Role.ADMIN
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


# --- task lifecycle -----------------------------------------------------------------------


class TaskState(StrEnum):
    """Where a task is in its lifecycle; see ``TRANSITIONS`` for the legal moves."""

    PENDING = "pending"
    PAUSED = "paused"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    CANCEL_REQUESTED = "cancel_requested"
    CANCELING = "canceling"
    ORPHANED = "orphaned"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def in_flight(self) -> bool:
        """Owned by a worker: the control plane must track it until it ends."""
        return self in IN_FLIGHT_STATES


TERMINAL_STATES = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED})
IN_FLIGHT_STATES = frozenset(
    {TaskState.DISPATCHED, TaskState.RUNNING, TaskState.CANCEL_REQUESTED, TaskState.CANCELING}
)

_S = TaskState
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    # queued: dispatched to a worker, held, canceled at once, or failed (deadline, no attempts)
    _S.PENDING: frozenset({_S.DISPATCHED, _S.PAUSED, _S.CANCELED, _S.FAILED}),
    _S.PAUSED: frozenset({_S.PENDING, _S.CANCELED, _S.FAILED}),
    # the worker accepted it; a refused or lost dispatch goes back to the queue
    _S.DISPATCHED: frozenset(
        {_S.RUNNING, _S.SUCCEEDED, _S.FAILED, _S.REJECTED, _S.CANCEL_REQUESTED, _S.ORPHANED, _S.PENDING}
    ),
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.REJECTED, _S.CANCEL_REQUESTED, _S.ORPHANED}),
    # the cancel lifecycle: requested -> worker acknowledged -> processes gone; the work may
    # still finish first (succeeded/failed), and an unreachable worker ends it as canceled
    _S.CANCEL_REQUESTED: frozenset({_S.CANCELING, _S.CANCELED, _S.SUCCEEDED, _S.FAILED, _S.ORPHANED}),
    _S.CANCELING: frozenset({_S.CANCELED, _S.SUCCEEDED, _S.FAILED, _S.ORPHANED}),
    # the worker vanished: retried by policy, failed, or canceled by an operator
    _S.ORPHANED: frozenset({_S.PENDING, _S.FAILED, _S.CANCELED}),
    # terminal, except for explicit operator retry and an approved waiver
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset({_S.PENDING}),
    _S.CANCELED: frozenset({_S.PENDING}),
    _S.REJECTED: frozenset({_S.SUCCEEDED, _S.PENDING}),
}


def can_transition(src: TaskState, dst: TaskState) -> bool:
    return dst in TRANSITIONS[src]


def check_transition(src: TaskState, dst: TaskState) -> None:
    """Raise ``InvalidTransition`` unless ``src -> dst`` is in the lifecycle table."""
    if not can_transition(src, dst):
        raise InvalidTransition(
            f"a task cannot go from {src.value} to {dst.value}",
            details={"from": src.value, "to": dst.value},
        )


# --- task specs -----------------------------------------------------------------------------


class ShellSpec(_Strict):
    """Run an argv list (never through a shell string) in the task workspace."""

    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = Field(None, gt=0)
    files: list[str] = Field(default_factory=list, description="Paths the task may write, checked against the roots.")

    @field_validator("argv")
    @classmethod
    def _argv_not_blank(cls, v: list[str]) -> list[str]:
        if not v[0].strip():
            raise ValueError("argv[0] must name a program")
        return v


class AgentSpec(_Strict):
    """Run the agent CLI (``AGENCY_AGENT_COMMAND``) with the prompt as one argument."""

    prompt: str = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = Field(None, gt=0)


class NoopSpec(_Strict):
    """Does nothing and succeeds at once; measures the platform, not the work."""

    sleep: float = Field(0.0, ge=0, le=3600)
    exit_code: int = 0


SPEC_MODELS: dict[str, type[BaseModel]] = {"shell": ShellSpec, "agent": AgentSpec, "noop": NoopSpec}
TASK_KINDS = tuple(sorted(SPEC_MODELS))


def parse_spec(kind: str, spec: dict[str, Any]) -> BaseModel:
    """Validate a spec for its kind; ``InvalidSpec`` names what is wrong."""
    model = SPEC_MODELS.get(kind)
    if model is None:
        raise InvalidSpec(f"unknown task kind {kind!r}; known kinds: {', '.join(TASK_KINDS)}")
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise InvalidSpec(f"invalid {kind} spec: {msg}", details={"kind": kind}) from exc


class RetryPolicy(_Strict):
    """How often a task is tried and how long to wait between attempts."""

    max_attempts: int = Field(3, ge=1, le=100)
    backoff: float = Field(1.0, ge=0, le=3600, description="Seconds before the 2nd attempt; doubles after.")
    backoff_max: float = Field(300.0, ge=0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt + 1``."""
        return float(min(self.backoff_max, self.backoff * (2 ** max(0, attempt - 1))))

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


class TaskSubmit(_Strict):
    """What a client sends to create a task."""

    kind: str
    spec: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first; ties by age.")
    idempotency_key: str | None = Field(None, max_length=200)
    retry: RetryPolicy | None = None
    timeout: float | None = Field(None, gt=0, description="Seconds from dispatch before the deadline stops it.")
    deadline: datetime | None = None
    locks: list[str] = Field(default_factory=list, max_length=32)
    gates: list[Literal["placeholders"]] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list, description="Secret names referenced as ${secret:NAME}.")

    @model_validator(mode="after")
    def _valid_spec(self) -> TaskSubmit:
        parse_spec(self.kind, self.spec)
        return self


class Task(BaseModel):
    """A task as the control plane knows it."""

    id: str
    kind: str
    spec: dict[str, Any]
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = 0
    state: TaskState = TaskState.PENDING
    reason: str | None = None
    attempt: int = 0
    max_attempts: int = 3
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    worker_id: str | None = None
    idempotency_key: str | None = None
    locks: list[str] = Field(default_factory=list)
    waiting_for: list[str] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list)
    verdict: str | None = None
    exit_code: int | None = None
    timeout: float | None = None
    deadline: datetime | None = None
    not_before: datetime | None = None
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    dispatched_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Attempt(BaseModel):
    """One try of a task on one worker."""

    task_id: str
    attempt: int
    worker_id: str | None = None
    state: TaskState
    reason: str | None = None
    exit_code: int | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


# --- audit events ---------------------------------------------------------------------------


class EventIn(BaseModel):
    """A state change or decision to append to the audit chain."""

    actor: str
    action: str
    resource_type: str
    resource_id: str
    details: dict[str, Any] = Field(default_factory=dict)
    verdict: str | None = None


class Event(EventIn):
    """An appended event: its sequence number, time and place in the hash chain."""

    seq: int
    ts: datetime
    prev_hash: str
    hash: str


# --- worker protocol ------------------------------------------------------------------------


class WorkerTaskRequest(_Strict):
    """``POST /task`` body: idempotent on (task_id, attempt).

    ``${secret:NAME}`` references in the spec's env are resolved by the worker, from its own
    keystore, only when it starts the process.
    """

    task_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    attempt: int = Field(1, ge=1)
    kind: str
    spec: dict[str, Any] = Field(default_factory=dict)
    deadline: datetime | None = None


class WorkerTaskState(StrEnum):
    """A task's state as its worker sees it."""

    RUNNING = "running"
    CANCELING = "canceling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"  # the worker restarted and the process is gone: never reported as success

    @property
    def terminal(self) -> bool:
        return self not in (WorkerTaskState.RUNNING, WorkerTaskState.CANCELING)


class WorkerTaskStatus(BaseModel):
    """``GET /task/{id}`` answer, and the body of a pushed report."""

    task_id: str
    attempt: int
    kind: str
    state: WorkerTaskState
    exit_code: int | None = None
    pid: int | None = None
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    changed_files: list[str] = Field(default_factory=list)
    workspace: str | None = Field(None, description="Absolute workspace dir; changed_files are relative to it.")
    denials: list[dict[str, str]] = Field(default_factory=list)


class WorkerOutput(BaseModel):
    """``GET /task/{id}/output?stream=stdout&offset=N`` answer."""

    task_id: str
    stream: Literal["stdout", "stderr"]
    offset: int
    next_offset: int
    data: str
    eof: bool


class WorkerStatus(BaseModel):
    """``GET /status`` answer."""

    id: str
    version: str
    kinds: list[str]
    capacity: int
    running: list[str]
    labels: dict[str, str] = Field(default_factory=dict)
    draining: bool = False
    sandbox: str = "none"


class WorkerRegistration(_Strict):
    """What a worker sends when it registers with the control plane."""

    id: str = Field(min_length=1, max_length=128)
    url: str
    kinds: list[str]
    capacity: int = Field(ge=1)
    labels: dict[str, str] = Field(default_factory=dict)
    version: str = __version__


class WorkerHeartbeat(_Strict):
    id: str
    running: list[str] = Field(default_factory=list)
    draining: bool = False


class WorkerReport(_Strict):
    """A task state change pushed by a worker."""

    worker_id: str
    status: WorkerTaskStatus


class WorkerHealth(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DRAINING = "draining"
    REMOVED = "removed"


class WorkerInfo(BaseModel):
    """A registered worker as the control plane sees it."""

    id: str
    url: str
    kinds: list[str]
    capacity: int
    labels: dict[str, str] = Field(default_factory=dict)
    version: str = ""
    health: WorkerHealth = WorkerHealth.HEALTHY
    running: int = 0
    breaker: Literal["closed", "open", "half-open"] = "closed"
    recent_failures: int = 0
    registered_at: datetime = Field(default_factory=utcnow)
    last_heartbeat: datetime | None = None


class OutputChunk(BaseModel):
    """A piece of a task's stdout or stderr as stored by the control plane."""

    task_id: str
    attempt: int
    stream: Literal["stdout", "stderr"]
    offset: int
    data: str
    created_at: datetime = Field(default_factory=utcnow)


class KpiSample(BaseModel):
    """One sampled KPI snapshot, stored every ``AGENCY_KPI_SAMPLE_INTERVAL`` for charts."""

    ts: datetime = Field(default_factory=utcnow)
    tasks_per_min: float = 0.0
    success_rate: float | None = None
    queue_p50_ms: float | None = None
    queue_p95_ms: float | None = None
    run_p50_ms: float | None = None
    run_p95_ms: float | None = None
    active_workers: int = 0
    queue_depth: int = 0
    running: int = 0
    open_breakers: int = 0


class ApiToken(BaseModel):
    """A bearer token's record; only the SHA-256 of the secret is stored."""

    id: str
    name: str
    role: Role
    token_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = "system"
    revoked_at: datetime | None = None


# --- chat, saved queries, alerts, waivers, runbooks ----------------------------------------


class ChatSession(BaseModel):
    id: str
    owner: str
    title: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class ChatMessage(BaseModel):
    session_id: str
    seq: int
    role: Literal["user", "assistant", "system"]
    content: str
    created_at: datetime = Field(default_factory=utcnow)


class SavedQuery(BaseModel):
    id: str
    name: str
    sql: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    revision: int = 1
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SavedQueryRevision(BaseModel):
    query_id: str
    revision: int
    name: str
    sql: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    created_by: str = "system"
    created_at: datetime = Field(default_factory=utcnow)


class QueryRun(BaseModel):
    id: str
    query_id: str | None
    revision: int | None
    actor: str
    started_at: datetime
    duration_ms: float
    rows: int
    status: Literal["ok", "error"]
    error: str | None = None


class QueryResultOut(BaseModel):
    """A user query's answer as JSON: cells are times in ISO 8601, decimals as floats, blobs base64."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    duration_ms: float
    run_id: str | None = None


class ChatSessionCreated(BaseModel):
    """``POST /api/v1/chat/session`` answer."""

    session_id: str
    owner: str
    title: str
    created_at: str


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"


class Alert(BaseModel):
    id: str
    kind: str
    severity: Literal["info", "warning", "critical"] = "warning"
    message: str
    resource_type: str = ""
    resource_id: str = ""
    state: AlertState = AlertState.OPEN
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str | None = None


class WaiverState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"


class Waiver(BaseModel):
    id: str
    task_id: str
    requested_by: str
    reason: str
    state: WaiverState = WaiverState.REQUESTED
    decided_by: str | None = None
    decision_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None


class RunbookRun(BaseModel):
    id: str
    name: str
    actor: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    output_path: str | None = None
    status: Literal["running", "succeeded", "failed"] = "running"
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    duration_s: float | None = None
