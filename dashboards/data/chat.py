"""Data of the Chat page: the sessions, a new session, one session's history."""

from __future__ import annotations

from typing import Any

from agency.client import AgencyClient

from .frames import records


def sessions(client: AgencyClient) -> dict[str, str]:
    """Label -> session id, newest first."""
    rows = sorted(
        records(client.chat_sessions()), key=lambda s: str(s.get("created_at", "")), reverse=True
    )
    return {f"{s.get('title') or 'untitled'} · {str(s['id'])[-6:]}": str(s["id"]) for s in rows}


def new_session(client: AgencyClient, title: str) -> str:
    """Start a session; returns its id."""
    return str(client.create_session(title=title or "dashboard").session_id)


def history(client: AgencyClient, session_id: str) -> list[dict[str, Any]]:
    """The session's messages so far, oldest first."""
    return records(client.chat_messages(session_id))
