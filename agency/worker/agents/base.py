"""What every agent runtime shares: the stream parser's contract and the budget check.

A parser gets one stdout line at a time and answers the transcript items it makes of it,
updating ``usage`` and ``session_id`` as the runtime reports them. It never raises on bad
input: a line that is not JSON, or JSON that is not an object, becomes an ``error`` item
that keeps the text, and a well-formed event it does not know becomes a ``system`` item
that keeps the event. The task itself is judged by its exit code, not by its transcript.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agency.models import TranscriptItem, TranscriptItemType, Usage
from agency.models.pricing import PriceTable

BUDGET_EXCEEDED = "budget_exceeded"
T = TranscriptItemType


def item(type_: TranscriptItemType, **fields: Any) -> TranscriptItem:
    """A transcript item whose seq, attempt, line and time the transcript writer fills in."""
    return TranscriptItem(type=type_, **fields)


def text_of(value: Any) -> str | None:
    """Plain text of a tool result or message content: a string, or the text of its blocks."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [b.get("text") for b in value if isinstance(b, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        if texts:
            return "\n".join(texts)
    return json.dumps(value, ensure_ascii=False)


def as_int(value: Any) -> int:
    """A token count from a runtime's JSON: anything that is not a number counts as 0."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


class StreamParser:
    """Turns one runtime's stdout lines into transcript items; subclasses read the events.

    ``runtime_stop`` is set when the runtime says it stopped itself at a limit (Claude's
    ``error_max_turns``): the worker reports that as a budget stop too.
    """

    name = "agent"

    def __init__(self, model: str | None = None) -> None:
        self.usage = Usage(model=model)
        self.session_id: str | None = None
        self.runtime_stop: str | None = None

    def feed_line(self, line: str) -> list[TranscriptItem]:
        text = line.strip()
        if not text:
            return []
        try:
            event = json.loads(text)
        except ValueError as exc:
            return [
                item(
                    T.ERROR,
                    kind="malformed",
                    error=f"not a JSON line: {exc}",
                    raw=text,
                )
            ]
        if not isinstance(event, dict):
            return [item(T.ERROR, kind="malformed", error="not a JSON object", raw=event)]
        try:
            items = self.on_event(event)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # a known event type with an unexpected shape: keep it, flagged, and go on
            items = [item(T.ERROR, kind="unreadable", error=f"unexpected event shape: {exc}")]
        if not items:
            items = [item(T.SYSTEM, kind=str(event.get("type", "unknown")))]
        items[0].raw = event
        return items

    def on_event(self, event: dict[str, Any]) -> list[TranscriptItem]:
        """The items of one JSON event (an empty list keeps it as a ``system`` item)."""
        return []


@dataclass(frozen=True)
class Budget:
    """The caps of one agent run; ``None`` means no cap.

    The cost checked is the runtime's own figure when it has reported one, else the run's
    tokens so far priced from ``prices`` (the model price table): Codex never reports a cost
    and Claude only in its last line, so without the table a cost cap could only act once
    the run is over.
    """

    max_turns: int | None = None
    max_cost_usd: float | None = None
    # the caps are what a budget is: two budgets with the same caps are equal
    prices: PriceTable | None = field(default=None, compare=False)

    def cost(self, usage: Usage) -> tuple[float, str] | None:
        """The run's cost so far and how it was found (empty: the runtime's own figure), or
        None when it cannot be known."""
        if usage.cost_usd is not None:
            return float(usage.cost_usd), ""
        if self.prices is None:
            return None
        cost, source = self.prices.cost(usage)
        return (cost, " (priced from the model price table)") if source != "none" else None

    def exceeded(self, parser: StreamParser) -> str | None:
        """Why the run must stop (a reason starting with ``budget_exceeded``), or None."""
        usage = parser.usage
        if self.max_turns is not None and usage.turns > self.max_turns:
            return f"{BUDGET_EXCEEDED}: {usage.turns} turns, over max_turns {self.max_turns}"
        known = self.cost(usage) if self.max_cost_usd is not None else None
        if self.max_cost_usd is not None and known is not None and known[0] > self.max_cost_usd:
            return (
                f"{BUDGET_EXCEEDED}: cost ${known[0]:.4f}{known[1]}, "
                f"over max_cost_usd ${self.max_cost_usd:.4f}"
            )
        if parser.runtime_stop is not None:
            return (
                f"{BUDGET_EXCEEDED}: {parser.name} stopped at its own limit ({parser.runtime_stop})"
            )
        return None
