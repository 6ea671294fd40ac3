"""Data of the Chat page: the sessions, a new session, one session's history."""

from __future__ import annotations

from typing import Any

from agency.client import AgencyClient

from .display import link_tasks_markdown, round_decimals
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


def message_markdown(message: dict[str, Any]) -> str:
    """One message as Markdown: a small header (seq, role), then the text, its numbers
    rounded (``977.417`` -> ``977.4``) and its task ids linked. A user's text is shown as
    typed (a code span per line keeps ``*`` and ``_`` literal)."""
    role = str(message.get("role", "system"))
    content = str(message.get("content", ""))
    if role == "user":
        body = "\n\n".join(f"`{line}`" if line.strip() else "" for line in content.split("\n"))
    else:
        body = link_tasks_markdown(round_decimals(content))
    return f"<small>#{message.get('seq')} {role}</small>\n\n{body}"
