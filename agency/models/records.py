"""Product records: output chunks, KPI samples, tokens, chat, saved queries, alerts, waivers
and runbook runs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from agency.models.base import Role, utcnow


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
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    last_used_addr: str | None = None
    # after a rotation the old secret's hash keeps working until previous_valid_until
    previous_hash: str | None = None
    previous_valid_until: datetime | None = None
    rotated_at: datetime | None = None


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
