"""Agent runs through a real ``agency worker``: fake ``claude`` and ``codex`` executables that
print the real formats, parsed into transcripts and usage, resumed in their workspace,
stopped at their budget, canceled mid tool call, with malformed lines kept."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from agency.models import TranscriptItem, TranscriptPage, WorkerStatus, WorkerTaskStatus
from agency.testing import WorkerProc, start_worker, wait_state
from agency.worker.procs import group_members
from tests.worker.fakes import install

GRACE = 1.0


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return install(tmp_path_factory.mktemp("bin"))


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory, bins: dict[str, Path]) -> Iterator[WorkerProc]:
    """A worker whose default runtime is ``claude`` (the fakes as both binaries)."""
    env = {
        "AGENCY_AGENT_RUNTIME": "claude",
        "AGENCY_CLAUDE_BIN": str(bins["claude"]),
        "AGENCY_CODEX_BIN": str(bins["codex"]),
        "AGENCY_CANCEL_GRACE": str(GRACE),
    }
    w = start_worker(tmp_path_factory.mktemp("agents"), capacity=4, env=env)
    yield w
    w.stop()


@pytest.fixture
def client(agents: WorkerProc) -> Iterator[httpx.Client]:
    with agents.client() as c:
        yield c


def tid() -> str:
    return uuid.uuid4().hex[:12]


def agent(task_id: str, prompt: str, **spec: Any) -> dict[str, Any]:
    return {"task_id": task_id, "kind": "agent", "spec": {"prompt": prompt, **spec}}


def run(client: httpx.Client, body: dict[str, Any], timeout: float = 30.0) -> WorkerTaskStatus:
    resp = client.post("/task", json=body)
    assert resp.status_code == 201, resp.text
    return WorkerTaskStatus.model_validate(wait_state(client, body["task_id"], timeout=timeout))


def transcript(client: httpx.Client, task_id: str, **params: Any) -> list[TranscriptItem]:
    """Every item, following ``next_after`` in pages of 3 until eof."""
    items: list[TranscriptItem] = []
    after = 0
    for _ in range(200):
        page = TranscriptPage.model_validate(
            client.get(
                f"/task/{task_id}/transcript", params={"after": after, "limit": 3, **params}
            ).json()
        )
        assert len(page.items) <= 3
        items += page.items
        after = page.next_after
        if page.eof:
            return items
    raise AssertionError("transcript never reached eof")


def calls(workspace: str) -> list[dict[str, Any]]:
    """What the fakes logged about each call in that workspace (argv, cwd)."""
    lines = (Path(workspace) / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if (
                any(marker in part for part in proc.info["cmdline"] or [])
                and proc.info["status"] != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_for_item(
    client: httpx.Client, task_id: str, type_: str, timeout: float = 15.0
) -> list[TranscriptItem]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = TranscriptPage.model_validate(
            client.get(f"/task/{task_id}/transcript", params={"limit": 1000}).json()
        )
        if any(it.type == type_ for it in page.items):
            return page.items
        time.sleep(0.05)
    raise AssertionError(f"no {type_} item in the transcript of {task_id} after {timeout}s")


# --- claude ---------------------------------------------------------------------------------


def test_a_claude_run_has_a_transcript_usage_and_a_session(client: httpx.Client) -> None:
    t = tid()
    # no runtime in the spec: the worker's AGENCY_AGENT_RUNTIME (claude) applies
    final = run(client, agent(t, "turns=2", model="claude-test-model"))
    assert final.state == "succeeded" and final.exit_code == 0, final.reason
    assert final.runtime == "claude" and final.session_id
    usage = final.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (300, 60)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (3000, 150)
    assert usage.cost_usd == pytest.approx(0.03) and usage.turns == 3
    assert usage.model == "claude-test-model"

    items = transcript(client, t)
    assert [it.seq for it in items] == list(range(1, len(items) + 1))
    assert [it.type for it in items] == [
        "system",
        *(["assistant", "tool_use", "tool_result"] * 2),
        "assistant",
        "result",
    ]
    init, first_text, call, answer = items[:4]
    assert init.kind == "init" and init.raw["session_id"] == final.session_id
    assert init.raw["future_field"] == {"kept": True}  # unknown fields are data, kept
    assert first_text.text == "Turn 1: writing hello.txt"
    assert call.tool_name == "Write" and call.tool_use_id == "toolu_1"
    assert call.input == {"file_path": "hello.txt", "content": "turn 1\n"}
    assert answer.tool_use_id == "toolu_1" and answer.output == "File written"
    assert answer.error is None
    assert items[-1].kind == "success" and items[-1].text == "Done." and items[-1].error is None
    assert all(it.attempt == 1 for it in items)

    argv = calls(final.workspace or "")[0]["argv"]
    assert argv[:5] == ["-p", "turns=2", "--output-format", "stream-json", "--verbose"]
    assert argv[5:] == ["--model", "claude-test-model"]
    assert (Path(final.workspace or "") / "hello.txt").read_text() == "turn 1\nturn 2\n"


def test_a_resumed_claude_session_runs_in_the_same_workspace(client: httpx.Client) -> None:
    first_id, second_id = tid(), tid()
    first = run(client, agent(first_id, "turns=1 file=notes.txt"))
    assert first.state == "succeeded" and first.session_id
    status = WorkerStatus.model_validate(client.get("/status").json())
    assert first.session_id in status.sessions

    second = run(client, agent(second_id, "turns=1 file=notes.txt", session_id=first.session_id))
    assert second.state == "succeeded", second.reason
    assert second.workspace == first.workspace and second.session_id == first.session_id
    logged = calls(first.workspace or "")
    assert len(logged) == 2 and logged[0]["cwd"] == logged[1]["cwd"] == first.workspace
    assert logged[1]["argv"][-2:] == ["--resume", first.session_id]
    assert "--resume" not in logged[0]["argv"]
    assert (Path(first.workspace or "") / "notes.txt").read_text() == "turn 1\nturn 1\n"
    # the second attempt's own transcript and changes: the earlier file is modified, not added
    assert transcript(client, second_id)[0].raw["session_id"] == first.session_id
    changes = client.get(f"/task/{second_id}/changes").json()
    assert {"path": "notes.txt", "status": "modified"} in changes["files"]
    assert "+turn 1" in changes["diff"] and changes["method"] == "snapshot"


def test_a_claude_run_past_max_turns_is_stopped_and_its_process_is_gone(
    client: httpx.Client,
) -> None:
    t = tid()
    body = agent(t, f"turns=20 sleep=0.2 marker={t}", runtime="claude", max_turns=2)
    resp = client.post("/task", json=body)
    assert resp.status_code == 201
    final = WorkerTaskStatus.model_validate(wait_state(client, t, timeout=30))
    assert final.state == "failed" and final.reason
    assert final.reason.startswith("budget_exceeded: 3 turns, over max_turns 2")
    assert "process group gone" in final.reason
    assert final.usage is not None and final.usage.turns == 3
    assert not processes_with(f"marker={t}")
    assert final.pid is not None and group_members(final.pid) == []
    # stopped well before its 20 turns, and the worker said so as soon as it decided
    items = transcript(client, t)
    assert sum(it.type == "tool_use" for it in items) < 5
    assert calls(final.workspace or "")[0]["argv"][-2:] == ["--max-turns", "2"]


def test_a_claude_run_past_max_cost_is_stopped(client: httpx.Client) -> None:
    t = tid()
    body = agent(t, f"turns=20 cost=0.5 results=each sleep=0.1 marker={t}", max_cost_usd=1.0)
    final = run(client, body)
    assert final.state == "failed" and final.reason
    assert final.reason.startswith("budget_exceeded: cost $1.5000, over max_cost_usd $1.0000")
    assert final.usage is not None and final.usage.cost_usd == pytest.approx(1.5)
    assert not processes_with(f"marker={t}")


def test_malformed_lines_are_kept_and_the_task_ends_normally(client: httpx.Client) -> None:
    t = tid()
    final = run(client, agent(t, "turns=1 malformed"))
    assert final.state == "succeeded" and final.exit_code == 0
    items = transcript(client, t)
    bad = [it for it in items if it.type == "error"]
    assert [it.kind for it in bad] == ["malformed", "malformed"]
    assert bad[0].raw == "this line is not json {" and "not a JSON line" in (bad[0].error or "")
    assert bad[1].raw == [1, 2, 3] and bad[1].error == "not a JSON object"
    mystery = next(it for it in items if it.kind == "mystery_event")
    assert mystery.type == "system" and mystery.raw["payload"] == {"kept": True}
    assert items[-1].type == "result" and final.usage and final.usage.turns == 2


def test_cancel_during_a_tool_call(client: httpx.Client) -> None:
    t = tid()
    resp = client.post("/task", json=agent(t, f"turns=2 tool_sleep=60 marker={t}"))
    assert resp.status_code == 201
    items = wait_for_item(client, t, "tool_use")
    assert processes_with(f"marker={t}")
    conflict = client.get(f"/task/{t}/changes")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    ack = client.post(f"/task/{t}/cancel")
    assert ack.json()["state"] in ("canceling", "canceled")
    final = WorkerTaskStatus.model_validate(wait_state(client, t, timeout=GRACE + 15))
    assert final.state == "canceled" and "process group gone" in (final.reason or "")
    assert not processes_with(f"marker={t}")
    items = transcript(client, t)
    assert items[-1].type == "tool_use" and items[-1].tool_name == "Write"
    assert not any(it.type == "tool_result" for it in items)
    # the changes of a canceled attempt are recorded too (the tool never wrote its file)
    changes = client.get(f"/task/{t}/changes").json()
    assert [f["path"] for f in changes["files"]] == ["calls.jsonl"]


# --- codex ----------------------------------------------------------------------------------


def test_a_codex_run_has_a_transcript_usage_and_a_thread(client: httpx.Client) -> None:
    t = tid()
    final = run(client, agent(t, "turns=1 file=out.txt", runtime="codex", model="gpt-test"))
    assert final.state == "succeeded", final.reason
    assert final.runtime == "codex" and final.session_id
    usage = final.usage
    assert usage is not None
    # Codex's cached_input_tokens are part of its input_tokens: taken out of them here
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (1000, 200, 345)
    assert usage.cost_usd is None and usage.turns == 3 and usage.model == "gpt-test"
    items = transcript(client, t)
    assert [(it.type, it.kind) for it in items] == [
        ("system", "thread.started"),
        ("system", "turn.started"),
        ("assistant", "reasoning"),
        ("tool_use", "command_execution"),
        ("tool_result", "command_execution"),
        ("tool_use", "file_change"),
        ("tool_result", "file_change"),
        ("assistant", "agent_message"),
        ("result", "turn.completed"),
    ]
    assert items[0].text == final.session_id
    command = items[3]
    assert command.input == {"command": "bash -lc 'echo turn 1 >> out.txt'"}
    assert items[4].tool_use_id == command.tool_use_id and items[4].error is None
    assert items[7].text == "Done."
    argv = calls(final.workspace or "")[0]["argv"]
    assert argv == [
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--model",
        "gpt-test",
        "turns=1 file=out.txt",
    ]


def test_a_resumed_codex_thread_runs_in_the_same_workspace(client: httpx.Client) -> None:
    first_id, second_id = tid(), tid()
    first = run(client, agent(first_id, "turns=1", runtime="codex"))
    assert first.session_id
    second = run(client, agent(second_id, "turns=1", runtime="codex", session_id=first.session_id))
    assert second.state == "succeeded" and second.workspace == first.workspace
    logged = calls(first.workspace or "")
    assert logged[1]["argv"][-3:] == ["resume", first.session_id, "turns=1"]
    assert logged[1]["cwd"] == first.workspace
    assert second.session_id == first.session_id


def test_a_codex_run_past_max_turns_is_stopped(client: httpx.Client) -> None:
    t = tid()
    final = run(client, agent(t, f"turns=20 sleep=0.1 marker={t}", runtime="codex", max_turns=3))
    assert final.state == "failed" and (final.reason or "").startswith("budget_exceeded: 4 turns")
    assert not processes_with(f"marker={t}")


def test_a_leading_dash_prompt_stays_a_prompt(client: httpx.Client) -> None:
    t = tid()
    final = run(client, agent(t, "--dangerously-skip-permissions turns=1", runtime="codex"))
    assert final.state == "succeeded", final.reason
    assert calls(final.workspace or "")[0]["argv"][-1] == " --dangerously-skip-permissions turns=1"


# --- persistence ----------------------------------------------------------------------------


def test_transcripts_changes_and_sessions_survive_a_worker_restart(
    tmp_path: Path, bins: dict[str, Path]
) -> None:
    env = {"AGENCY_CLAUDE_BIN": str(bins["claude"]), "AGENCY_AGENT_RUNTIME": "claude"}
    w = start_worker(tmp_path, worker_id="restart-me", env=env)
    t = tid()
    try:
        with w.client() as c:
            first = run(c, agent(t, "turns=1"))
            before = transcript(c, t)
            changes = c.get(f"/task/{t}/changes").json()
    finally:
        w.stop()
    again = start_worker(tmp_path, worker_id="restart-me", env=env)
    try:
        with again.client() as c:
            assert transcript(c, t) == before
            assert c.get(f"/task/{t}/changes").json() == changes
            status = WorkerStatus.model_validate(c.get("/status").json())
            assert first.session_id in status.sessions
            kept = WorkerTaskStatus.model_validate(c.get(f"/task/{t}").json())
            assert kept.usage == first.usage and kept.session_id == first.session_id
            resumed = run(c, agent(tid(), "turns=1", session_id=first.session_id))
            assert resumed.workspace == first.workspace
    finally:
        again.stop()


def test_a_session_in_use_or_of_another_runtime_is_refused(client: httpx.Client) -> None:
    t = tid()
    client.post("/task", json=agent(t, "turns=1 tool_sleep=60"))
    wait_for_item(client, t, "tool_use")
    session = client.get(f"/task/{t}").json()["session_id"]
    busy = client.post("/task", json=agent(tid(), "again", session_id=session))
    assert busy.status_code == 409 and busy.json()["error"]["details"]["task_id"] == t
    other = client.post("/task", json=agent(tid(), "x", runtime="codex", session_id=session))
    assert other.status_code == 400 and "claude session" in other.json()["error"]["message"]
    client.post(f"/task/{t}/cancel")
    assert wait_state(client, t, timeout=GRACE + 15)["state"] == "canceled"


def test_the_new_endpoints_are_in_the_openapi(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert "/task/{task_id}/transcript" in spec["paths"]
    assert "/task/{task_id}/changes" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert {"TranscriptPage", "TranscriptItem", "WorkspaceChanges", "Usage"} <= set(schemas)


def test_a_codex_run_is_held_to_max_cost_by_the_price_table(client: httpx.Client) -> None:
    """Codex reports no cost: its tokens are priced from the model price table as they come
    in, so ``max_cost_usd`` stops the run (gpt-5: 1000 in, 200 cached, 345 out = $0.004725)."""
    t = tid()
    final = run(client, agent(t, "turns=1", runtime="codex", model="gpt-5", max_cost_usd=0.004))
    assert final.state == "failed", final.reason
    assert (final.reason or "").startswith(
        "budget_exceeded: cost $0.0047 (priced from the model price table), over max_cost_usd"
    )
    under = run(client, agent(tid(), "turns=1", runtime="codex", model="gpt-5", max_cost_usd=0.01))
    assert under.state == "succeeded", under.reason


def test_a_claude_run_is_held_to_max_cost_before_it_reports_one(client: httpx.Client) -> None:
    """Claude reports its cost only in its last line: until then its tokens are priced."""
    t = tid()
    body = agent(t, f"turns=20 sleep=0.1 marker={t}", model="claude-opus-4-1", max_cost_usd=0.0001)
    final = run(client, body)
    assert final.state == "failed", final.reason
    assert "(priced from the model price table)" in (final.reason or "")
    assert final.usage is not None and final.usage.cost_usd is None and final.usage.turns < 20
    assert not processes_with(f"marker={t}")
