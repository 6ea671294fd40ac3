"""OpenAI Codex CLI: ``codex exec --json <prompt>``, ``codex exec --json resume <thread> <prompt>``.

stdout is JSONL thread events (``codex-rs/exec/src/exec_events.rs``): ``thread.started
{thread_id}``, ``turn.started``, ``item.started`` / ``item.updated`` / ``item.completed
{item}``, ``turn.completed {usage: {input_tokens, cached_input_tokens, output_tokens}}``,
``turn.failed {error: {message}}`` and ``error {message}``. An item has an ``id`` and a
``type``: ``agent_message`` and ``reasoning`` (``text``), ``command_execution`` (``command``,
``aggregated_output``, ``exit_code``, ``status``), ``file_change`` (``changes``, ``status``),
``mcp_tool_call`` (``server``, ``tool``, ``arguments``, ``result``, ``error``),
``web_search`` (``query``), ``todo_list``, ``error`` (``message``).

Codex reports no cost, and one ``exec`` is one Codex turn, so ``turns`` counts the model's
steps instead: each completed agent message or tool call (what Claude counts as a turn).
``--skip-git-repo-check``: a task workspace is a plain directory unless the task made it a
repository, and Codex refuses to run outside one without it.
"""

from __future__ import annotations

from typing import Any

from agency.models import AgentSpec, TranscriptItem
from agency.worker.agents.base import StreamParser, T, as_int, item, text_of

TOOL_ITEMS = frozenset({"command_execution", "file_change", "mcp_tool_call", "web_search"})
STEP_ITEMS = TOOL_ITEMS | {"agent_message"}


def argv(binary: list[str], spec: AgentSpec, prompt: str) -> list[str]:
    args = [*binary, "exec", "--json", "--skip-git-repo-check"]
    if spec.model:
        args += ["--model", spec.model]
    if spec.session_id:
        args += ["resume", spec.session_id]
    return [*args, prompt]


def _tool_name(it: dict[str, Any]) -> str:
    if it.get("type") == "mcp_tool_call":
        return f"{it.get('server')}.{it.get('tool')}"
    return str(it.get("type"))


def _tool_input(it: dict[str, Any]) -> Any:
    kind = it.get("type")
    if kind == "command_execution":
        return {"command": it.get("command")}
    if kind == "file_change":
        return {"changes": it.get("changes")}
    if kind == "mcp_tool_call":
        return it.get("arguments")
    return {"query": it.get("query")}


def _tool_error(it: dict[str, Any]) -> str | None:
    if isinstance(it.get("error"), dict):
        return text_of(it["error"].get("message"))
    code = it.get("exit_code")
    if it.get("status") in ("failed", "declined") or (isinstance(code, int) and code != 0):
        return f"{it.get('status')}" + (f", exit code {code}" if code is not None else "")
    return None


class CodexParser(StreamParser):
    """Codex's ``exec --json`` events as transcript items, usage and thread id."""

    name = "codex"

    def __init__(self, model: str | None = None) -> None:
        super().__init__(model)
        self.started: set[str] = set()  # tool items whose tool_use is already in the transcript

    def on_event(self, event: dict[str, Any]) -> list[TranscriptItem]:
        kind = str(event.get("type"))
        if kind == "thread.started":
            self.session_id = str(event["thread_id"])
            return [item(T.SYSTEM, kind=kind, text=self.session_id)]
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            cached = as_int(usage.get("cached_input_tokens"))
            self.usage.input_tokens += max(0, as_int(usage.get("input_tokens")) - cached)
            self.usage.cache_read_tokens += cached
            self.usage.output_tokens += as_int(usage.get("output_tokens"))
            return [item(T.RESULT, kind=kind)]
        if kind == "turn.failed":
            error = text_of((event.get("error") or {}).get("message"))
            return [item(T.RESULT, kind=kind, error=error or kind)]
        if kind == "error":
            return [item(T.ERROR, kind=kind, error=text_of(event.get("message")) or kind)]
        if kind in ("item.started", "item.updated", "item.completed"):
            return self._item(kind, event["item"])
        return []

    def _item(self, kind: str, it: dict[str, Any]) -> list[TranscriptItem]:
        itype = str(it.get("type"))
        iid = str(it.get("id")) if it.get("id") is not None else None
        done = kind == "item.completed"
        if done and itype in STEP_ITEMS:
            self.usage.turns += 1
        if itype in TOOL_ITEMS:
            items = []
            if iid not in self.started:
                if iid is not None:
                    self.started.add(iid)
                items.append(
                    item(
                        T.TOOL_USE,
                        kind=itype,
                        tool_name=_tool_name(it),
                        tool_use_id=iid,
                        input=_tool_input(it),
                    )
                )
            if done:
                output = it.get("aggregated_output", it.get("result", it.get("status")))
                items.append(
                    item(
                        T.TOOL_RESULT,
                        kind=itype,
                        tool_name=_tool_name(it),
                        tool_use_id=iid,
                        output=output,
                        error=_tool_error(it),
                    )
                )
            return items or [item(T.SYSTEM, kind=f"{kind}:{itype}", tool_use_id=iid)]
        if done and itype in ("agent_message", "reasoning"):
            return [item(T.ASSISTANT, kind=itype, text=text_of(it.get("text")))]
        if done and itype == "error":
            return [item(T.ERROR, kind=itype, error=text_of(it.get("message")) or itype)]
        return [item(T.SYSTEM, kind=f"{kind}:{itype}", text=text_of(it.get("text")))]
