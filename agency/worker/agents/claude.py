"""Claude Code: ``claude -p <prompt> --output-format stream-json --verbose``.

stdout is one JSON object a line (the shapes of the Agent SDK's message parser):
``system`` (subtype ``init`` carries ``session_id``, ``model``, ``tools``); ``assistant``
(``message.content`` blocks ``text``, ``thinking``, ``tool_use {id, name, input}``, with
``message.id`` and ``message.usage``); ``user`` (``tool_result {tool_use_id, content,
is_error}`` blocks); and last ``result`` (``subtype``, ``is_error``, ``result``,
``session_id``, ``num_turns``, ``total_cost_usd``, ``usage``).

Claude streams one ``assistant`` line per content block, all with the same ``message.id``:
turns and tokens are counted per message id until a ``result`` gives the totals. A
subagent's messages (``parent_tool_use_id`` set) add their tokens but no turn, as in
Claude's own ``num_turns``.
"""

from __future__ import annotations

from typing import Any

from agency.models import AgentSpec, TranscriptItem, Usage
from agency.worker.agents.base import StreamParser, T, as_int, item, text_of

# result subtypes that mean Claude stopped itself at one of its limits
LIMIT_SUBTYPES = frozenset({"error_max_turns", "error_max_budget_usd"})


def argv(binary: list[str], spec: AgentSpec, prompt: str) -> list[str]:
    args = [*binary, "-p", prompt, "--output-format", "stream-json", "--verbose"]
    if spec.model:
        args += ["--model", spec.model]
    if spec.max_turns is not None:
        args += ["--max-turns", str(spec.max_turns)]
    if spec.session_id:
        args += ["--resume", spec.session_id]
    return args


def _usage_of(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    return Usage(
        input_tokens=as_int(raw.get("input_tokens")),
        output_tokens=as_int(raw.get("output_tokens")),
        cache_read_tokens=as_int(raw.get("cache_read_input_tokens")),
        cache_write_tokens=as_int(raw.get("cache_creation_input_tokens")),
    )


class ClaudeParser(StreamParser):
    """Claude Code's ``stream-json`` events as transcript items, usage and session id."""

    name = "claude"

    def __init__(self, model: str | None = None) -> None:
        super().__init__(model)
        self.totals = Usage()  # as of the last result message
        self.messages: dict[str, Usage] = {}  # usage per assistant message id since then
        self.since = Usage()  # their sum, kept as they come: a recount per line stays O(1)

    def on_event(self, event: dict[str, Any]) -> list[TranscriptItem]:
        kind = event.get("type")
        if isinstance(event.get("session_id"), str):
            self.session_id = event["session_id"]
        if kind == "system":
            if isinstance(event.get("model"), str):
                self.usage.model = event["model"]
            return [item(T.SYSTEM, kind=str(event.get("subtype") or "system"))]
        if kind == "assistant":
            return self._assistant(event["message"], sub=bool(event.get("parent_tool_use_id")))
        if kind == "user":
            return self._user(event["message"])
        if kind == "result":
            return [self._result(event)]
        return []

    def _assistant(self, message: dict[str, Any], sub: bool) -> list[TranscriptItem]:
        if isinstance(message.get("model"), str) and not sub:
            self.usage.model = message["model"]
        key = str(message.get("id") or f"line-{len(self.messages)}")
        used = _usage_of(message.get("usage"))
        used.turns = 0 if sub else 1  # a subagent's turns are not Claude's num_turns
        old = self.messages.get(key)
        if old is not None:  # another block of the same message: it replaces its usage
            _add(self.since, old, -1)
        _add(self.since, used, 1)
        self.messages[key] = used
        self._recount()
        items = []
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "tool_use":
                items.append(
                    item(
                        T.TOOL_USE,
                        kind="tool_use",
                        tool_name=block.get("name"),
                        tool_use_id=block.get("id"),
                        input=block.get("input"),
                    )
                )
            elif btype == "thinking":
                items.append(item(T.ASSISTANT, kind="thinking", text=block.get("thinking")))
            else:
                items.append(item(T.ASSISTANT, kind=str(btype), text=text_of(block.get("text"))))
        return items

    def _user(self, message: dict[str, Any]) -> list[TranscriptItem]:
        content = message.get("content")
        if not isinstance(content, list):
            return [item(T.SYSTEM, kind="user", text=text_of(content))]
        items = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_result":
                output = text_of(block.get("content"))
                items.append(
                    item(
                        T.TOOL_RESULT,
                        kind="tool_result",
                        tool_use_id=block.get("tool_use_id"),
                        output=output,
                        error=(output or "tool error") if block.get("is_error") else None,
                    )
                )
            else:
                items.append(
                    item(T.SYSTEM, kind=f"user:{block.get('type')}", text=block.get("text"))
                )
        return items

    def _result(self, event: dict[str, Any]) -> TranscriptItem:
        totals = _usage_of(event.get("usage"))
        totals.turns = as_int(event.get("num_turns")) or self.usage.turns
        cost = event.get("total_cost_usd")
        totals.cost_usd = float(cost) if isinstance(cost, int | float) else self.usage.cost_usd
        self.totals, self.messages, self.since = totals, {}, Usage()
        self._recount()
        subtype = str(event.get("subtype") or "")
        if subtype in LIMIT_SUBTYPES:
            self.runtime_stop = subtype
        failed = bool(event.get("is_error")) or (subtype not in ("", "success"))
        return item(
            T.RESULT,
            kind=subtype or "result",
            text=text_of(event.get("result")),
            error=(text_of(event.get("result")) or subtype) if failed else None,
        )

    def _recount(self) -> None:
        """usage = the last result's totals + every assistant message seen since."""
        u, t, s = self.usage, self.totals, self.since
        u.input_tokens = t.input_tokens + s.input_tokens
        u.output_tokens = t.output_tokens + s.output_tokens
        u.cache_read_tokens = t.cache_read_tokens + s.cache_read_tokens
        u.cache_write_tokens = t.cache_write_tokens + s.cache_write_tokens
        u.turns = t.turns + s.turns
        u.cost_usd = t.cost_usd


_COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "turns")


def _add(into: Usage, usage: Usage, sign: int) -> None:
    for name in _COUNTS:
        setattr(into, name, getattr(into, name) + sign * getattr(usage, name))
