"""Data of an agent task's conversation in the drill-down: transcript items folded into
entries (a tool call and its result become one entry), usage and cost as one line, the
changes of the latest attempt, and the follow-up that continues the same session.

Plain functions over the client's models, so the page calls them in a worker thread and
tests call them directly; nothing here knows about Panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agency.client import AgencyClient
from agency.models import Task, Usage
from agency.models.runs import ChangesOut, StoredTranscriptItem

TEXT_MAX_CHARS = 4000  # one entry's body; a tool that printed megabytes must not bloat the page


@dataclass
class Entry:
    """One line of the conversation as shown.

    ``role`` is ``assistant``, ``tool``, ``system``, ``result`` or ``error``; a ``tool`` entry
    is folded (``title`` says which tool, ``detail`` holds its input and output). ``error``
    is set when the item (or the tool's result) failed, so the page can highlight it.
    """

    attempt: int
    seq: int
    role: str
    title: str
    text: str = ""
    detail: str = ""
    error: str | None = None
    pending: bool = False  # a tool call whose result has not arrived yet


@dataclass
class AgentView:
    """Everything the drill-down's conversation tab shows about one agent task."""

    entries: list[Entry] = field(default_factory=list)
    usage: str = ""
    changes: ChangesOut | None = None
    count: int = 0  # transcript items read: the page re-renders only when it grows


def clip(text: str, limit: int = TEXT_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more chars)"


def as_text(value: Any) -> str:
    """A tool's input or output as readable text (JSON-ish values shown compactly)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"{k}: {as_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(as_text(v) for v in value)
    return str(value)


def fold(items: list[StoredTranscriptItem]) -> list[Entry]:
    """Transcript items as entries: each ``tool_use`` absorbs its ``tool_result`` (matched by
    ``tool_use_id`` within the attempt); a result without its call stands alone."""
    entries: list[Entry] = []
    calls: dict[tuple[int, str], Entry] = {}
    for item in items:
        kind = item.type.value
        if kind == "tool_use":
            entry = Entry(
                item.attempt,
                item.seq,
                "tool",
                f"{item.tool_name or item.kind or 'tool'}",
                detail=clip(as_text(item.input)),
                error=item.error,
                pending=True,
            )
            if item.tool_use_id:
                calls[(item.attempt, item.tool_use_id)] = entry
            entries.append(entry)
            continue
        if kind == "tool_result":
            call = calls.pop((item.attempt, item.tool_use_id or ""), None)
            output = clip(as_text(item.output))
            if call is not None:
                call.pending = False
                call.text = output.splitlines()[0] if output else ""
                call.detail = f"{call.detail}\n── result ──\n{output}" if call.detail else output
                call.error = item.error or call.error
                continue
            entries.append(
                Entry(item.attempt, item.seq, "tool", "tool result", text=output, error=item.error)
            )
            continue
        role = "error" if kind == "error" else kind
        text = clip(item.text or item.error or as_text(item.output) or "")
        entries.append(Entry(item.attempt, item.seq, role, item.kind or kind, text, error=item.error))
    return entries


def usage_line(usage: Usage | None, session_id: str | None = None) -> str:
    """Tokens, turns and cost in one line; empty before the first run has reported."""
    if usage is None:
        return ""
    parts = [
        f"{usage.input_tokens:,} in",
        f"{usage.output_tokens:,} out",
        f"cache {usage.cache_read_tokens:,} read / {usage.cache_write_tokens:,} written",
        f"{usage.turns} turns",
        f"${usage.cost_usd:.4f}",
    ]
    if usage.model:
        parts.append(usage.model)
    if session_id:
        parts.append(f"session {session_id}")
    return " · ".join(parts)


def load(client: AgencyClient, task_id: str, with_changes: bool = True) -> AgentView:
    """The task's transcript folded, its usage line and (when asked) its changes."""
    items = client.transcript(task_id).items
    got = client.task(task_id)
    changes = client.changes(task_id) if with_changes else None
    return AgentView(
        entries=fold(items),
        usage=usage_line(got.usage, got.session_id),
        changes=changes,
        count=len(items),
    )


def follow_up_spec(task: dict[str, Any], session_id: str | None, prompt: str) -> dict[str, Any]:
    """The spec of the next prompt in the same session: the shown task's runtime and model,
    its session (the run's own, else the one its spec resumed)."""
    text = prompt.strip()
    if not text:
        raise ValueError("write the follow-up prompt first")
    spec = task.get("spec") or {}
    session = session_id or spec.get("session_id")
    if not session:
        raise ValueError("this task has no session to continue yet")
    out: dict[str, Any] = {"prompt": text, "session_id": session}
    for key in ("runtime", "model"):
        if spec.get(key):
            out[key] = spec[key]
    return out


def follow_up(
    client: AgencyClient, task: dict[str, Any], session_id: str | None, prompt: str
) -> Task:
    """Submit the follow-up as a new agent task with the shown task's labels."""
    spec = follow_up_spec(task, session_id, prompt)
    return client.submit("agent", spec, labels=task.get("labels") or {})
