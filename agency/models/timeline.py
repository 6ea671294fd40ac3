"""The fleet timeline: which worker ran which attempt of which task, and when.

``GET /api/v1/workers/timeline`` answers a ``WorkerTimeline``: one ``TimelineBar`` per
attempt that overlaps the window, finished ones from the attempts table and the ones still
in flight from the orchestrator's memory. ``command_text`` is the one-line form of a spec
both the server (for the bars) and the dashboards use.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from agency.models.tasks import TaskState

#: the longest command text a bar carries (a hover shows it; the task page has the rest)
COMMAND_CHARS = 200
#: what one timeline answer may hold at most (``limit``'s upper bound)
MAX_TIMELINE_BARS = 10_000
DEFAULT_TIMELINE_BARS = 2_000


def command_text(kind: Any, spec: Any, limit: int = COMMAND_CHARS) -> str:
    """A spec on one line of at most ``limit`` characters: a shell command as a shell would
    read it, an agent's prompt, else the spec's JSON (the kind for an empty one). ``spec``
    may be the stored JSON text (the dashboards' frames hold it so)."""
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError:
            return _cut(spec, limit)
    spec = spec if isinstance(spec, dict) else {}
    if isinstance(spec.get("argv"), list):
        text = shlex.join(str(a) for a in spec["argv"])
    elif isinstance(spec.get("prompt"), str):
        text = spec["prompt"]
    elif spec:
        text = json.dumps(spec, separators=(",", ":"))
    else:
        text = str(kind or "")
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TimelineBar(BaseModel):
    """One attempt of one task on one worker: dispatched at ``started_at``, ended at
    ``finished_at`` (``None`` while it is in flight) in ``state``."""

    worker_id: str
    task_id: str
    attempt: int
    kind: str
    command: str
    state: TaskState
    reason: str | None = None
    started_at: datetime
    finished_at: datetime | None = None


class WorkerTimeline(BaseModel):
    """``GET /api/v1/workers/timeline``: the bars overlapping ``[since, until)``, oldest
    first; ``truncated`` when more overlapped than ``limit`` (the newest are kept)."""

    since: datetime
    until: datetime
    items: list[TimelineBar] = Field(default_factory=list)
    truncated: bool = False
