"""The conversation's data: tool calls folded with their results, errors kept, the usage
line, and the follow-up's spec (same runtime, model and session)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agency.models import Usage
from agency.models.runs import StoredTranscriptItem
from agency_dashboards.data import conversation as conv


def item(seq: int, type_: str, attempt: int = 1, **fields: Any) -> StoredTranscriptItem:
    return StoredTranscriptItem(
        task_id="t1", attempt=attempt, seq=seq, time=datetime.now(UTC), type=type_, **fields
    )


def test_a_tool_call_absorbs_its_result_and_errors_stay_visible() -> None:
    entries = conv.fold(
        [
            item(1, "system", kind="init", text="session start"),
            item(2, "assistant", kind="text", text="Writing hello.txt"),
            item(3, "tool_use", tool_name="Write", tool_use_id="u1", input={"file_path": "a"}),
            item(4, "tool_result", tool_use_id="u1", output="File written"),
            item(5, "tool_use", tool_name="Bash", tool_use_id="u2", input={"command": "false"}),
            item(6, "tool_result", tool_use_id="u2", output="exit 1", error="exit 1"),
            item(7, "error", kind="malformed", error="this line is not json {"),
            item(8, "tool_use", tool_name="Read", tool_use_id="u3", input={"file_path": "b"}),
        ]
    )
    assert [e.role for e in entries] == ["system", "assistant", "tool", "tool", "error", "tool"]
    write = entries[2]
    assert (write.title, write.text, write.error, write.pending) == (
        "Write",
        "File written",
        None,
        False,
    )
    assert "file_path: a" in write.detail and "File written" in write.detail
    assert entries[3].error == "exit 1"  # the failed tool result marks its call
    assert entries[4].error and entries[4].text == "this line is not json {"
    assert entries[5].pending  # no result yet: the call is still running


def test_results_match_calls_within_their_attempt_only() -> None:
    entries = conv.fold(
        [
            item(1, "tool_use", attempt=1, tool_name="Write", tool_use_id="u1"),
            item(1, "tool_result", attempt=2, tool_use_id="u1", output="late"),
        ]
    )
    assert [(e.role, e.title) for e in entries] == [("tool", "Write"), ("tool", "tool result")]
    assert entries[0].pending


def test_long_outputs_are_clipped() -> None:
    [entry] = conv.fold([item(1, "assistant", text="x" * (conv.TEXT_MAX_CHARS + 10))])
    assert entry.text.endswith("(10 more chars)")


def test_usage_line() -> None:
    assert conv.usage_line(None) == ""
    line = conv.usage_line(
        Usage(
            input_tokens=1200,
            output_tokens=60,
            cache_read_tokens=3000,
            cache_write_tokens=150,
            cost_usd=0.03,
            turns=3,
            model="claude-x",
        ),
        "s-1",
    )
    assert line == (
        "1,200 in · 60 out · cache 3,000 read / 150 written · 3 turns · $0.0300 · claude-x"
        " · session s-1"
    )


def test_follow_up_keeps_runtime_model_and_session() -> None:
    task = {"spec": {"prompt": "first", "runtime": "codex", "model": "m", "max_turns": 3}}
    assert conv.follow_up_spec(task, "s-1", "  next one ") == {
        "prompt": "next one",
        "session_id": "s-1",
        "runtime": "codex",
        "model": "m",
    }
    # before its run has reported one, the session the task itself resumed is continued
    resumed = {"spec": {"prompt": "p", "session_id": "s-0"}}
    assert conv.follow_up_spec(resumed, None, "go")["session_id"] == "s-0"
    with pytest.raises(ValueError, match="prompt"):
        conv.follow_up_spec(task, "s-1", "   ")
    with pytest.raises(ValueError, match="session"):
        conv.follow_up_spec({"spec": {"prompt": "p"}}, None, "go")
