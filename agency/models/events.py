"""The audit event: every state change and decision, appended to the hash-chained log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


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
