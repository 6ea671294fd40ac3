"""Which workspace holds which agent session, persisted so a restarted worker still knows.

A resumed run (``spec.session_id``) must run where the session's earlier run did: Claude
and Codex keep a session's history under ``$HOME``, which is the task workspace, and the
files the agent was working on are there too. The map is one small JSON file in the
worker's state dir, rewritten atomically on every new session.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from agency.models import utcnow

log = logging.getLogger(__name__)

MAX_SESSIONS = 10_000  # past this the oldest are forgotten (their workspaces stay on disk)


class SessionEntry(BaseModel):
    """Where a session lives and which attempt last ran in it."""

    workspace: str
    cwd: str | None = None
    runtime: str
    task_id: str
    attempt: int
    updated_at: str = Field(default_factory=lambda: utcnow().isoformat())


class SessionMap(BaseModel):
    sessions: dict[str, SessionEntry] = Field(default_factory=dict)


class SessionStore:
    """The session -> workspace map of one worker, kept in ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.map = self._load()

    def _load(self) -> SessionMap:
        try:
            return SessionMap.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return SessionMap()
        except (OSError, ValidationError) as exc:
            log.warning("worker state: unreadable session map %s: %s", self.path, exc)
            return SessionMap()

    def ids(self) -> list[str]:
        return list(self.map.sessions)

    def get(self, session_id: str) -> SessionEntry | None:
        return self.map.sessions.get(session_id)

    def record(self, session_id: str, entry: SessionEntry) -> None:
        """Remember ``session_id`` (moved to the newest end) and write the map."""
        sessions = self.map.sessions
        sessions.pop(session_id, None)
        sessions[session_id] = entry
        while len(sessions) > MAX_SESSIONS:
            sessions.pop(next(iter(sessions)))
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.map.model_dump_json())
        os.replace(tmp, self.path)
