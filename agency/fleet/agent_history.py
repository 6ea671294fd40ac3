"""What an ag-agent-claude's history adds to a finished task: cost, turns, cache tokens,
model, and a transcript of the CLI's output.

The agent's task answer carries only ``token_usage {input, output}`` (PROTOCOL.md §5): no
cost, turns, cache tokens or transcript. Its history keeps the CLI's raw stdout for the
newest 20 tasks (``GET /history/{id}/debug``): with ``--output-format json`` that is the one
``result`` object Claude prints (``total_cost_usd``, ``num_turns``, ``usage`` with cache
tokens, ``result``, ``is_error``, ``session_id``). ``read_debug`` makes usage and transcript
items of it, reading multi-line (stream) output line by line too; anything else is kept as
``system`` items, never an error. A task whose debug log is gone (older than the newest 20,
or a cancel before any output) keeps the task answer's tokens and an empty transcript.
"""

from __future__ import annotations

import json
from typing import Any

from agency.models import TranscriptItem, TranscriptItemType, Usage

T = TranscriptItemType


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _events(body: bytes | dict[str, Any]) -> list[Any]:
    if isinstance(body, dict):
        return [body]
    out: list[Any] = []
    for line in body.decode(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(line)
    return out


def _item(event: Any) -> TranscriptItem:
    if not isinstance(event, dict):
        return TranscriptItem(type=T.SYSTEM, kind="text", text=str(event)[:10_000])
    kind = str(event.get("type") or "unknown")
    if kind == "result":
        text = event.get("result") if isinstance(event.get("result"), str) else None
        failed = bool(event.get("is_error"))
        subtype = str(event.get("subtype") or "result")
        return TranscriptItem(
            type=T.RESULT, kind=subtype, text=text, error=(text or subtype) if failed else None
        )
    if kind == "assistant":
        message = _dict(event.get("message"))
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        return TranscriptItem(
            type=T.ASSISTANT, kind="text", text="\n".join(t for t in texts if isinstance(t, str))
        )
    return TranscriptItem(type=T.SYSTEM, kind=kind)


def read_debug(
    body: bytes | dict[str, Any], attempt: int, model: str | None
) -> tuple[Usage | None, list[TranscriptItem]]:
    """The usage of the last ``result`` event (None without one) and the transcript items."""
    events = _events(body)
    items = [_item(e) for e in events]
    for seq, it in enumerate(items, start=1):
        it.seq, it.attempt, it.line = seq, attempt, seq
    result = next(
        (e for e in reversed(events) if isinstance(e, dict) and e.get("type") == "result"), None
    )
    if result is None:
        return None, items
    raw = _dict(result.get("usage"))
    cost = result.get("total_cost_usd")
    usage = Usage(
        input_tokens=_count(raw.get("input_tokens")),
        output_tokens=_count(raw.get("output_tokens")),
        cache_read_tokens=_count(raw.get("cache_read_input_tokens")),
        cache_write_tokens=_count(raw.get("cache_creation_input_tokens")),
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
        turns=_count(result.get("num_turns")),
        model=model,
    )
    return usage, items
