"""The worker protocol's messages and the control plane's view of a worker."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from agency.models.agents import Usage
from agency.models.base import Strict, __version__, utcnow


class WorkerTaskRequest(Strict):
    """``POST /task`` body: idempotent on (task_id, attempt).

    ``${secret:NAME}`` references in the spec's env are resolved by the worker, from its own
    keystore, only when it starts the process.
    """

    task_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    attempt: int = Field(1, ge=1)
    kind: str
    spec: dict[str, Any] = Field(default_factory=dict)
    deadline: datetime | None = None
    agency_token: str | None = Field(
        None,
        max_length=512,
        repr=False,
        description="A short-lived token scoped to this task's children: the worker gives it "
        "to the task's process as AGENCY_TOKEN (with AGENCY_URL), so the task can delegate.",
    )


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
    workspace: str | None = Field(
        None, description="Absolute workspace dir; changed_files are relative to it."
    )
    denials: list[dict[str, str]] = Field(default_factory=list)
    # agent runs (optional: workers and control planes that predate them ignore these)
    runtime: str | None = Field(None, description="Agent runtime: claude, codex or command.")
    usage: Usage | None = Field(None, description="Tokens, cost and turns the agent reported.")
    session_id: str | None = Field(
        None,
        description="Claude's session id or Codex's thread id: resume it with spec.session_id.",
    )


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
    sessions: list[str] = Field(
        default_factory=list, description="Agent sessions whose workspaces this worker holds."
    )


WorkerProtocol = Literal["agency", "agency-agent"]
"""``agency``: agency's own worker; ``agency-agent``: an ``ag-agent-claude`` of alan-phobos-org."""


class WorkerTLS(Strict):
    """How the control plane verifies an https worker's certificate.

    ``fingerprint`` pins the certificate itself (``sha256:`` and 64 hex digits, colons
    allowed): a self-signed certificate is accepted when, and only when, its SHA-256 matches.
    ``ca_file`` trusts the CA bundle at that path (on the control plane's machine) instead of
    the system's. ``verify: false`` turns verification off; it is an explicit choice, recorded
    in the registration's audit event, never a default.
    """

    fingerprint: str | None = Field(None, description="sha256:<64 hex digits> of the DER cert.")
    ca_file: str | None = Field(None, max_length=4096)
    verify: bool = True

    @field_validator("fingerprint")
    @classmethod
    def _normalize(cls, value: str | None) -> str | None:
        if value is None:
            return None
        algo, _, digest = value.partition(":")
        digest = digest.replace(":", "").lower()
        if algo.lower() != "sha256" or len(digest) != 64:
            raise ValueError("fingerprint must be sha256:<64 hex digits>")
        int(digest, 16)  # ValueError when not hex
        return f"sha256:{digest}"


class WorkerRegistration(Strict):
    """What a worker sends when it registers with the control plane (or an operator, for a
    remote agent that does not register itself)."""

    id: str = Field(min_length=1, max_length=128)
    url: str
    kinds: list[str]
    capacity: int = Field(ge=1)
    labels: dict[str, str] = Field(default_factory=dict)
    version: str = __version__
    # The worker's own credential for calls *to* it, handed over on this authenticated
    # request: each worker has its own, so no two machines need to share a setting.
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=512,
        repr=False,
        description="Bearer the control plane presents when it calls this worker "
        "(generated by the worker at start). Without it the control plane uses its own "
        "AGENCY_WORKER_TOKEN, as before.",
    )
    protocol: WorkerProtocol = "agency"
    tls: WorkerTLS | None = None


class WorkerHeartbeat(Strict):
    id: str
    running: list[str] = Field(default_factory=list)
    draining: bool = False


class WorkerReport(Strict):
    """A task state change pushed by a worker; an agent run's ``usage`` and ``session_id``
    travel in its ``status`` (whose unknown fields an older control plane ignores)."""

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
    health_reason: str | None = Field(
        None, description="Why the worker is unhealthy (missed heartbeats, refused calls)."
    )
    register_again: bool = Field(
        False,
        description="The control plane does not hold this worker's credential (it restarted): "
        "the worker should send its registration again.",
    )
    running: int = 0
    breaker: Literal["closed", "open", "half-open"] = "closed"
    recent_failures: int = 0
    registered_at: datetime = Field(default_factory=utcnow)
    last_heartbeat: datetime | None = None
    protocol: WorkerProtocol = "agency"
    tls: WorkerTLS | None = None
    agent_state: str | None = Field(
        None, description="A remote agent's own state from its /status (idle, working)."
    )
    current_task: str | None = Field(None, description="The remote agent's current task id.")


class AgentLink(BaseModel):
    """The remote agent's own task id for one agency attempt (ag-agent-claude makes its ids),
    stored so a restarted control plane can poll that task again."""

    task_id: str
    attempt: int
    worker_id: str
    agent_task: str
    kind: str
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
