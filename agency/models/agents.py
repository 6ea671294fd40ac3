"""Agent runs as structured data: transcript items, token usage, and workspace changes.

A worker parses its agent runtime's stdout (Claude Code's ``stream-json``, Codex's
``exec --json``) into ``TranscriptItem`` rows, sums the reported tokens and cost into
``Usage``, and records what the attempt changed in its workspace as ``WorkspaceChanges``.
The same shapes are what the worker serves and what the control plane stores.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from agency.models.base import utcnow

AgentRuntimeName = Literal["claude", "codex", "command"]
AGENT_RUNTIMES: tuple[str, ...] = ("claude", "codex", "command")


class TranscriptItemType(StrEnum):
    """The normalised kinds of transcript item, whatever the runtime called them."""

    SYSTEM = "system"  # session start, runtime notices, events with no better home
    ASSISTANT = "assistant"  # text (or reasoning) from the model
    TOOL_USE = "tool_use"  # the model calls a tool
    TOOL_RESULT = "tool_result"  # what the tool answered
    RESULT = "result"  # the end of a run (or of a Codex turn), with its totals
    ERROR = "error"  # an error event, or a line that could not be parsed


class TranscriptItem(BaseModel):
    """One parsed step of an agent run; ``seq`` counts from 1 within its attempt.

    ``kind`` is the runtime's own name for it (``init``, ``thinking``, ``command_execution``,
    ``turn.completed``, ``malformed``...). ``raw`` keeps the whole source line, parsed, on the
    first item made from it (the raw text for a line that is not JSON), so no field of the
    runtime's output is lost; ``line`` is that line's number in the attempt's stdout.
    """

    seq: int = 0
    attempt: int = 1
    time: datetime = Field(default_factory=utcnow)
    type: TranscriptItemType
    kind: str | None = None
    text: str | None = None
    tool_name: str | None = None
    tool_use_id: str | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    line: int = 0
    raw: Any = None


class TranscriptPage(BaseModel):
    """``GET /task/{id}/transcript?after=<seq>`` answer: items with ``seq > after``.

    Pass ``next_after`` back to read on; ``eof`` once the attempt is final and all is read.
    """

    task_id: str
    attempt: int
    items: list[TranscriptItem]
    next_after: int
    eof: bool
    usage: Usage | None = Field(
        None, description="The attempt's usage so far (live while it runs), when it has one."
    )


class Usage(BaseModel):
    """Tokens, cost and turns of an agent run, as its runtime reported them.

    ``input_tokens`` never includes cache reads (Codex's ``cached_input_tokens`` are taken out
    of its ``input_tokens``); ``cost_usd`` is only what the runtime itself reported (Claude
    does, Codex does not): pricing tokens is the control plane's business.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    turns: int = 0
    model: str | None = None


class FileChange(BaseModel):
    """One file an attempt added, modified or deleted (path relative to ``root``)."""

    path: str
    status: Literal["added", "modified", "deleted"]


class WorkspaceChanges(BaseModel):
    """``GET /task/{id}/changes`` answer: what one attempt changed in its workspace.

    ``method`` is ``git`` when the task ran in a git repository (its working tree before and
    after, compared with ``git diff``) and ``snapshot`` otherwise (a before/after walk of the
    workspace). ``diff`` is a unified diff of the text files, cut at ``cap_bytes``
    (``AGENCY_CHANGES_MAX_BYTES``); ``truncated`` says whether anything was left out.
    """

    task_id: str
    attempt: int
    method: Literal["git", "snapshot"]
    root: str
    files: list[FileChange] = Field(default_factory=list)
    diff: str = ""
    truncated: bool = False
    cap_bytes: int
    error: str | None = None
