"""Answer shapes of the chat and query endpoints, shared by the API and ``agency.client``.

Kept apart from the routers so the client can import them without FastAPI or the storage.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class SessionCreated(BaseModel):
    """``POST /api/v1/chat/session`` answer."""

    session_id: str
    owner: str
    title: str
    created_at: str


class QueryResultOut(BaseModel):
    """A query's answer; cells are JSON (times ISO 8601, decimals as floats, blobs base64)."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    duration_ms: float
    run_id: str | None = None
