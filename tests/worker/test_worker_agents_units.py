"""The agent runtimes' pieces without a process: argv, stream parsers, budgets, the
transcript writer and pages, and the snapshot comparison."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from agency.errors import InvalidSpec
from agency.models import AgentSpec, FileChange, TranscriptItem
from agency.settings import Settings
from agency.worker import transcript
from agency.worker.agents import Budget, plan_agent
from agency.worker.agents.claude import ClaudeParser
from agency.worker.agents.codex import CodexParser
from agency.worker.changes import snapshot
from agency.worker.transcript import TranscriptWriter, read_page


def line(event: Any) -> str:
    return json.dumps(event)


def settings(**env: str) -> Settings:
    return Settings.load(env={f"AGENCY_{k.upper()}": v for k, v in env.items()})


def template(prompt: str) -> list[str]:
    return ["generic-agent", prompt]


# --- argv -----------------------------------------------------------------------------------


def test_claude_argv_carries_model_turns_and_resume() -> None:
    spec = AgentSpec(prompt="fix it", model="opus", max_turns=7, session_id="s-1")
    plan = plan_agent(
        spec, settings(agent_runtime="claude", claude_bin="/opt/claude --x y"), template
    )
    assert plan.runtime == "claude" and isinstance(plan.parser, ClaudeParser)
    assert plan.argv == [
        "/opt/claude",
        "--x",
        "y",
        "-p",
        "fix it",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "opus",
        "--max-turns",
        "7",
        "--resume",
        "s-1",
    ]
    assert plan.budget == Budget(max_turns=7, max_cost_usd=None)


def test_codex_argv_resumes_a_thread_and_the_default_runtime_is_the_command() -> None:
    spec = AgentSpec(prompt="go", runtime="codex", session_id="th-9", model="gpt-5")
    plan = plan_agent(spec, settings(), template)
    assert plan.argv == [
        "codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--model",
        "gpt-5",
        "resume",
        "th-9",
        "go",
    ]
    generic = plan_agent(AgentSpec(prompt="go", max_cost_usd=2), settings(), template)
    assert generic.runtime == "command" and generic.parser is None
    assert generic.argv == ["generic-agent", "go"] and generic.budget.max_cost_usd == 2


def test_prompts_never_become_flags_and_bad_binaries_are_invalid_specs() -> None:
    plan = plan_agent(AgentSpec(prompt="-rf /", runtime="claude"), settings(), template)
    assert plan.argv[1:3] == ["-p", " -rf /"]
    with pytest.raises(InvalidSpec, match="AGENCY_CODEX_BIN"):
        plan_agent(AgentSpec(prompt="x", runtime="codex"), settings(codex_bin="'open"), template)
    with pytest.raises(InvalidSpec, match="AGENCY_CLAUDE_BIN is empty"):
        plan_agent(AgentSpec(prompt="x", runtime="claude"), settings(claude_bin="  "), template)


# --- claude ---------------------------------------------------------------------------------


def assistant(msg_id: str, *blocks: dict[str, Any], out: int = 10) -> str:
    usage = {"input_tokens": 5, "output_tokens": out, "cache_read_input_tokens": 100}
    return line(
        {"type": "assistant", "message": {"id": msg_id, "content": list(blocks), "usage": usage}}
    )


def test_claude_counts_turns_per_message_id_until_the_result_gives_totals() -> None:
    p = ClaudeParser()
    p.feed_line(line({"type": "system", "subtype": "init", "session_id": "S", "model": "m1"}))
    p.feed_line(assistant("a", {"type": "text", "text": "hi"}))
    p.feed_line(assistant("a", {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}))
    assert (p.usage.turns, p.usage.input_tokens, p.usage.output_tokens) == (1, 5, 10)
    p.feed_line(assistant("b", {"type": "thinking", "thinking": "hmm", "signature": "x"}))
    assert (p.usage.turns, p.usage.cache_read_tokens, p.session_id) == (2, 200, "S")
    assert p.usage.cost_usd is None and p.usage.model == "m1"
    [res] = p.feed_line(
        line(
            {
                "type": "result",
                "subtype": "error_max_turns",
                "is_error": True,
                "num_turns": 4,
                "total_cost_usd": 0.25,
                "session_id": "S2",
                "usage": {
                    "input_tokens": 40,
                    "output_tokens": 30,
                    "cache_creation_input_tokens": 7,
                },
            }
        )
    )
    assert res.type == "result" and res.kind == "error_max_turns" and res.error == "error_max_turns"
    u = p.usage
    assert (u.turns, u.input_tokens, u.output_tokens, u.cache_write_tokens) == (4, 40, 30, 7)
    assert u.cost_usd == 0.25 and p.session_id == "S2"
    assert (
        Budget().exceeded(p) == "budget_exceeded: claude stopped at its own limit (error_max_turns)"
    )
    assert Budget(max_cost_usd=0.2).exceeded(p) == (
        "budget_exceeded: cost $0.2500, over max_cost_usd $0.2000"
    )
    # after a result, new messages count on top of its totals; a subagent's add no turn
    p.feed_line(assistant("c", {"type": "text", "text": "more"}))
    assert p.usage.turns == 5 and p.usage.input_tokens == 45
    sub = json.loads(assistant("d", {"type": "text", "text": "sub"}))
    p.feed_line(line({**sub, "parent_tool_use_id": "toolu_9"}))
    assert p.usage.turns == 5 and p.usage.input_tokens == 50


def test_claude_tool_results_errors_and_unknown_shapes() -> None:
    p = ClaudeParser()
    content = [{"type": "text", "text": "line 1"}, {"type": "image", "source": {}}]
    [ok, bad] = p.feed_line(
        line(
            {
                "type": "user",
                "message": {
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": content},
                        {
                            "type": "tool_result",
                            "tool_use_id": "t2",
                            "content": "boom",
                            "is_error": True,
                        },
                    ]
                },
            }
        )
    )
    assert ok.output == "line 1" and ok.error is None and ok.raw["type"] == "user"
    assert bad.error == "boom" and bad.raw is None  # the line is kept once, on its first item
    [odd] = p.feed_line(line({"type": "assistant", "nomessage": True}))
    assert (
        odd.type == "error"
        and odd.kind == "unreadable"
        and odd.raw == {"type": "assistant", "nomessage": True}
    )
    [other] = p.feed_line(line({"type": "stream_event", "event": {"x": 1}}))
    assert (
        other.type == "system" and other.kind == "stream_event" and other.raw["event"] == {"x": 1}
    )
    assert p.feed_line("   ") == []


# --- codex ----------------------------------------------------------------------------------


def test_codex_items_usage_and_failures() -> None:
    p = CodexParser(model="gpt")
    p.feed_line(line({"type": "thread.started", "thread_id": "T"}))
    updated = p.feed_line(
        line({"type": "item.updated", "item": {"id": "1", "type": "todo_list", "items": []}})
    )
    assert updated[0].type == "system" and updated[0].kind == "item.updated:todo_list"
    # completed without a start: the call and its result both appear
    use, result = p.feed_line(
        line(
            {
                "type": "item.completed",
                "item": {
                    "id": "2",
                    "type": "mcp_tool_call",
                    "server": "docs",
                    "tool": "search",
                    "arguments": {"q": "x"},
                    "result": None,
                    "error": {"message": "server down"},
                    "status": "failed",
                },
            }
        )
    )
    assert (use.type, use.tool_name, use.input) == ("tool_use", "docs.search", {"q": "x"})
    assert result.type == "tool_result" and result.error == "server down"
    [cmd] = p.feed_line(
        line(
            {
                "type": "item.completed",
                "item": {
                    "id": "3",
                    "type": "command_execution",
                    "command": "false",
                    "aggregated_output": "",
                    "exit_code": 1,
                    "status": "failed",
                },
            }
        )
    )[1:]
    assert cmd.error == "failed, exit code 1"
    p.feed_line(
        line(
            {
                "type": "turn.completed",
                "usage": {"input_tokens": 10, "cached_input_tokens": 4, "output_tokens": 3},
            }
        )
    )
    p.feed_line(
        line(
            {
                "type": "turn.completed",
                "usage": {"input_tokens": 10, "cached_input_tokens": 4, "output_tokens": 3},
            }
        )
    )
    assert (p.usage.input_tokens, p.usage.cache_read_tokens, p.usage.output_tokens) == (12, 8, 6)
    assert p.usage.turns == 2 and p.usage.model == "gpt" and p.session_id == "T"
    [failed] = p.feed_line(line({"type": "turn.failed", "error": {"message": "quota"}}))
    assert failed.type == "result" and failed.error == "quota"
    [err] = p.feed_line(line({"type": "error", "message": "stream broke"}))
    assert err.type == "error" and err.error == "stream broke"
    assert Budget(max_turns=1).exceeded(p) == "budget_exceeded: 2 turns, over max_turns 1"
    assert Budget(max_cost_usd=0.01).exceeded(p) is None  # Codex reports no cost


# --- transcript writer and pages ------------------------------------------------------------


def test_the_writer_joins_chunks_into_lines_and_numbers_items(tmp_path: Path) -> None:
    path = tmp_path / "t" / transcript.FILE
    seen: list[int] = []
    writer = TranscriptWriter(path, 2, ClaudeParser(), lambda: seen.append(writer.seq))
    text = line({"type": "system", "subtype": "init", "session_id": "S"}) + "\n" + "not json\n"
    text += assistant("a", {"type": "text", "text": "é ✓"})
    for i in range(0, len(text), 7):
        writer.feed(text[i : i + 7])
    assert writer.seq == 2  # the last line has no newline yet
    writer.close()
    items = [TranscriptItem.model_validate_json(raw) for raw in path.read_text().splitlines()]
    assert [(it.seq, it.attempt, it.line, it.type) for it in items] == [
        (1, 2, 1, "system"),
        (2, 2, 2, "error"),
        (3, 2, 3, "assistant"),
    ]
    assert items[2].text == "é ✓" and seen[-1] == 3


def test_an_over_long_line_is_cut_and_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transcript, "MAX_LINE", 50)
    writer = TranscriptWriter(tmp_path / transcript.FILE, 1, CodexParser())
    writer.feed("x" * 40)
    writer.feed("y" * 40)
    writer.feed("z" * 40 + "\n" + line({"type": "turn.started"}) + "\n")
    writer.close()
    page = read_page("t", 1, tmp_path / transcript.FILE, 0, 10, True)
    assert [it.kind for it in page.items] == ["malformed", "turn.started"]
    assert "cut" in (page.items[0].error or "") and page.items[0].raw.startswith("x" * 40)


def test_pages_follow_seq_and_stop_at_a_line_being_written(tmp_path: Path) -> None:
    path = tmp_path / transcript.FILE
    items = [
        TranscriptItem(seq=i, type="assistant", text=f"{i}").model_dump_json() for i in range(1, 6)
    ]
    path.write_text("\n".join(items) + "\n" + items[0][:10])
    page = read_page("t", 1, path, 1, 2, finished=False)
    assert [it.seq for it in page.items] == [2, 3] and page.next_after == 3 and not page.eof
    tail = read_page("t", 1, path, 3, 10, finished=True)
    assert [it.seq for it in tail.items] == [4, 5] and not tail.eof  # a partial line follows
    path.write_text("\n".join(items) + "\n")
    done = read_page("t", 1, path, 5, 10, finished=True)
    assert done.items == [] and done.next_after == 5 and done.eof
    assert read_page("t", 1, None, 0, 10, finished=True).eof


# --- snapshot -------------------------------------------------------------------------------


def test_snapshot_compare_and_a_modification_whose_old_text_was_not_kept(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("same\n")
    (tmp_path / "big.txt").write_text("old " * 100)
    (tmp_path / "gone.txt").write_text("bye\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ignored\n")
    before = snapshot.take(tmp_path, text_budget=20)
    (tmp_path / "big.txt").write_text("new " * 100)
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "new.txt").write_text("hi\n")
    after = snapshot.take(tmp_path, 0)
    changes = snapshot.compare(before, after)
    assert changes == [
        FileChange(path="big.txt", status="modified"),
        FileChange(path="gone.txt", status="deleted"),
        FileChange(path="new.txt", status="added"),
    ]
    section, whole = snapshot.file_diff(
        changes[0], before.files["big.txt"], snapshot.read_text(tmp_path, "big.txt", 1000)
    )
    assert not whole and "content not kept" in section
    section, whole = snapshot.file_diff(changes[1], before.files["gone.txt"], None)
    assert (
        whole and "deleted file\n--- a/gone.txt\n+++ /dev/null\n" in section and "-bye" in section
    )


def test_a_long_claude_stream_is_parsed_in_linear_time() -> None:
    """Each assistant message has its own id: the usage so far is kept as a running sum, not
    summed again over every message at each line (20,000 lines took minutes that way)."""
    parser = ClaudeParser()
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 1}
    lines = [
        json.dumps(
            {
                "type": "assistant",
                "message": {
                    "id": f"m{n}",
                    "content": [{"type": "text", "text": "x"}],
                    "usage": usage,
                },
            }
        )
        for n in range(20_000)
    ]
    lines.insert(100, lines[99])  # the same message again (another block): not counted twice
    start = time.process_time()
    for line in lines:
        parser.feed_line(line)
    assert time.process_time() - start < 5.0
    u = parser.usage
    assert (u.turns, u.input_tokens, u.output_tokens, u.cache_read_tokens) == (
        20_000,
        200_000,
        100_000,
        20_000,
    )
