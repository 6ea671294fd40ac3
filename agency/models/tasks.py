"""The task lifecycle (``TaskState`` and its table of legal transitions), task specs and policies,
the task and its attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agency.errors import InvalidSpec, InvalidTransition
from agency.models.agents import AgentRuntimeName
from agency.models.base import Strict, utcnow


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


TERMINAL_STATES = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELED, TaskState.REJECTED}
)
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
        {
            _S.RUNNING,
            _S.SUCCEEDED,
            _S.FAILED,
            _S.REJECTED,
            _S.CANCEL_REQUESTED,
            _S.ORPHANED,
            _S.PENDING,
            _S.PAUSED,
        }
    ),
    # an agent run stopped at its budget with ``on_budget: pause`` waits for an operator
    _S.RUNNING: frozenset(
        {_S.SUCCEEDED, _S.FAILED, _S.REJECTED, _S.CANCEL_REQUESTED, _S.ORPHANED, _S.PAUSED}
    ),
    # the cancel lifecycle: requested -> worker acknowledged -> processes gone; the work may
    # still finish first (succeeded/failed), and an unreachable worker ends it as canceled
    _S.CANCEL_REQUESTED: frozenset(
        {_S.CANCELING, _S.CANCELED, _S.SUCCEEDED, _S.FAILED, _S.ORPHANED}
    ),
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


class ShellSpec(Strict):
    """Run an argv list (never through a shell string) in the task workspace."""

    argv: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = Field(None, gt=0)
    files: list[str] = Field(
        default_factory=list, description="Paths the task may write, checked against the roots."
    )

    @field_validator("argv")
    @classmethod
    def _argv_not_blank(cls, v: list[str]) -> list[str]:
        if not v[0].strip():
            raise ValueError("argv[0] must name a program")
        return v


# an id or a model name becomes one argv element of the agent CLI: never one that reads as a flag
CLI_VALUE = r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]*$"


class AgentSpec(Strict):
    """Run an agent: Claude Code, Codex, or the generic ``AGENCY_AGENT_COMMAND`` template.

    ``runtime`` defaults to the worker's ``AGENCY_AGENT_RUNTIME``. ``session_id`` resumes an
    earlier run (Claude's session id, Codex's thread id) in that run's workspace. The worker
    stops a run whose transcript shows more than ``max_turns`` turns or ``max_cost_usd``
    spent; ``on_budget`` says what the control plane does next (``pause`` holds the task).
    """

    prompt: str = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: float | None = Field(None, gt=0)
    runtime: AgentRuntimeName | None = None
    model: str | None = Field(None, max_length=200, pattern=CLI_VALUE)
    max_turns: int | None = Field(None, ge=1, le=100_000)
    max_cost_usd: float | None = Field(None, gt=0)
    session_id: str | None = Field(None, max_length=200, pattern=CLI_VALUE)
    on_budget: Literal["stop", "pause"] = "stop"


class NoopSpec(Strict):
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
        msg = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidSpec(
            f"invalid {kind} spec: {msg}",
            details={"kind": kind, "errors": [_problem(e) for e in exc.errors()]},
        ) from exc


def _problem(error: Any) -> dict[str, Any]:
    """One spec problem in plain types: where (within the spec), pydantic's type and message."""
    return {"loc": [str(p) for p in error["loc"]], "type": error["type"], "msg": error["msg"]}


# The pydantic error type a TaskSubmit raises for a bad spec inside request validation, so the
# API can name where it is (``tasks[3].spec.argv``); direct construction raises InvalidSpec.
SPEC_ERROR = "invalid_spec"


def _spec_error(exc: InvalidSpec) -> PydanticCustomError:
    return PydanticCustomError(SPEC_ERROR, "{message}", {"message": exc.message, **exc.details})


def _as_invalid_spec(exc: ValidationError) -> InvalidSpec | None:
    """The InvalidSpec a ValidationError carries (a bad spec), if that is what it is."""
    for err in exc.errors():
        if err["type"] == SPEC_ERROR:
            ctx = dict(err.get("ctx") or {})
            return InvalidSpec(str(ctx.pop("message", err["msg"])), details=ctx)
    return None


class RetryPolicy(Strict):
    """How often a task is tried and how long to wait between attempts."""

    max_attempts: int = Field(3, ge=1, le=100)
    backoff: float = Field(
        1.0, ge=0, le=3600, description="Seconds before the 2nd attempt; doubles after."
    )
    backoff_max: float = Field(300.0, ge=0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt + 1``."""
        return float(min(self.backoff_max, self.backoff * (2 ** max(0, attempt - 1))))

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts


class TaskSubmit(Strict):
    """What a client sends to create a task."""

    kind: str
    spec: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    priority: int = Field(0, ge=-1000, le=1000, description="Higher runs first; ties by age.")
    idempotency_key: str | None = Field(None, max_length=200)
    retry: RetryPolicy | None = None
    timeout: float | None = Field(
        None, gt=0, description="Seconds from dispatch before the deadline stops it."
    )
    deadline: datetime | None = None
    locks: list[str] = Field(default_factory=list, max_length=32)
    gates: list[Literal["placeholders"]] = Field(default_factory=list)
    secrets: list[str] = Field(
        default_factory=list, description="Secret names referenced as ${secret:NAME}."
    )
    parent_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The task this one was delegated by (a child task); it must exist.",
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _as_invalid_spec(exc) or exc from None

    # pydantic calls a model's own __init__ while validating it inside a larger body unless it
    # is marked as its base one: so marked, a batch or the API sees the located spec error
    # (tasks[3].spec.argv) and only direct construction turns it into InvalidSpec
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Any = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """As pydantic's, but a bad spec raises ``InvalidSpec`` (as construction does)."""
        try:
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise _as_invalid_spec(exc) or exc from None

    @model_validator(mode="after")
    def _valid_spec(self) -> TaskSubmit:
        try:
            parse_spec(self.kind, self.spec)
        except InvalidSpec as exc:
            raise _spec_error(exc) from exc
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
    parent_id: str | None = None
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
