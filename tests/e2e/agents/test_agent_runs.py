"""Agent runs through a real control plane and real ``agency worker`` processes running the
fake ``claude`` and ``codex``: transcripts, usage and cost, changes, sessions on the worker
that holds them, per-task budget stops, fleet budgets holding tasks, cancel mid tool call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from agency.cli import app as cli_app
from agency.client import AgencyClient
from agency.models import TaskDetail
from agency.models.pricing import DEFAULT_PRICES
from agency.testing import ADMIN, Stack, serve, wait_for
from tests.worker.fakes import install
from tests.worker.test_worker_agents import processes_with

TERMINAL = {"succeeded", "failed", "canceled", "rejected"}


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return install(tmp_path_factory.mktemp("bin"))


def agent_env(bins: dict[str, Path]) -> dict[str, str]:
    return {
        "AGENCY_AGENT_RUNTIME": "claude",
        "AGENCY_CLAUDE_BIN": str(bins["claude"]),
        "AGENCY_CODEX_BIN": str(bins["codex"]),
        "AGENCY_CANCEL_GRACE": "1.0",
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, bins: dict[str, Path]) -> Iterator[Stack]:
    """One control plane with two agent workers (capacity 1 each)."""
    root = tmp_path_factory.mktemp("agents-cp")
    with serve(root, transcript_poll_interval=0.1) as s:
        for i in range(2):
            s.add_worker(root / f"worker-{i}", capacity=1, env=agent_env(bins))
        yield s


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http() as c:
        yield c


def submit(http: httpx.Client, prompt: str, **spec: Any) -> str:
    labels = spec.pop("labels", {})
    body = {"kind": "agent", "spec": {"prompt": prompt, **spec}, "labels": labels}
    body["retry"] = {"max_attempts": 2, "backoff": 0}
    answer = http.post("/api/v1/tasks", json=body)
    assert answer.status_code == 201, answer.text
    task_id: str = answer.json()["id"]
    return task_id


def detail(http: httpx.Client, task_id: str) -> TaskDetail:
    return TaskDetail.model_validate(http.get(f"/api/v1/tasks/{task_id}").json())


def wait_done(http: httpx.Client, task_id: str, timeout: float = 30.0) -> TaskDetail:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = detail(http, task_id)
        # finished in the database too: its transcript and usage are written with the result
        if d.task.state.value in TERMINAL and d.attempts:
            return d
        time.sleep(0.05)
    raise AssertionError(f"{task_id} not finished after {timeout}s: {detail(http, task_id).task}")


def items(http: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    answer = http.get(f"/api/v1/tasks/{task_id}/transcript")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


def test_a_claude_run_has_its_transcript_usage_cost_and_changes(
    stack: Stack, http: httpx.Client
) -> None:
    t = submit(http, "turns=2 file=hello.txt", model="claude-sonnet-4-5-test")
    d = wait_done(http, t)
    assert d.task.state.value == "succeeded", d.task.reason
    assert d.usage is not None and d.session_id
    assert (d.usage.input_tokens, d.usage.output_tokens, d.usage.turns) == (300, 60, 3)
    assert (d.usage.cache_read_tokens, d.usage.cache_write_tokens) == (3000, 150)
    assert d.usage.cost_usd == pytest.approx(0.03)  # the runtime's own figure wins
    assert d.usage.model == "claude-sonnet-4-5-test"

    got = items(http, t)
    assert [i["type"] for i in got] == [
        "system",
        *(["assistant", "tool_use", "tool_result"] * 2),
        "assistant",
        "result",
    ]
    assert [i["seq"] for i in got] == list(range(1, len(got) + 1))
    assert {i["attempt"] for i in got} == {1}
    assert got[2]["tool_name"] and got[2]["input"] is not None

    changes = http.get(f"/api/v1/tasks/{t}/changes").json()
    assert {"path": "hello.txt", "status": "added"} in changes["files"]
    assert "hello.txt" in changes["diff"] and changes["cap_bytes"] > 0
    assert changes["truncated"] is False

    with stack.client() as client:
        frame = client.transcript_frame(t)
        assert list(frame["type"]) == [i["type"] for i in got]
        followed = list(client.follow_transcript(t))  # a finished task: all, then the end
        assert [(i.attempt, i.seq) for i in followed] == [(1, s) for s in range(1, len(got) + 1)]
        resumed = list(client.follow_transcript(t, after="1:7"))
        assert [i.seq for i in resumed] == list(range(8, len(got) + 1))
        assert [f.model_dump() for f in client.changes(t).files] == changes["files"]
        metrics = client.metrics_text()
    assert 'agency_agent_cost_usd_total{model="claude-sonnet-4-5-test"}' in metrics
    assert 'agency_agent_tokens_total{kind="input",model="claude-sonnet-4-5-test"}' in metrics

    runner = CliRunner()
    env = {"AGENCY_URL": stack.url, "AGENCY_TOKEN": ADMIN}
    out = runner.invoke(cli_app, ["task", "transcript", t], env=env)
    assert out.exit_code == 0, out.output
    assert "tool_use" in out.output and "result" in out.output
    out = runner.invoke(cli_app, ["task", "transcript", t, "--follow"], env=env)
    assert out.exit_code == 0 and out.output.count("\n") == len(got), out.output
    out = runner.invoke(cli_app, ["task", "show", t], env=env)
    assert "usage: 300 in, 60 out" in out.output and d.session_id in out.output


def test_a_codex_run_without_a_cost_is_priced_from_the_table(
    stack: Stack, http: httpx.Client
) -> None:
    t = submit(http, "turns=1 file=out.txt", runtime="codex", model="gpt-5-mini-test")
    d = wait_done(http, t)
    assert d.task.state.value == "succeeded", d.task.reason
    u = d.usage
    assert u is not None and u.input_tokens > 0 and d.session_id
    price = DEFAULT_PRICES["gpt-5-mini"]
    expected = (
        u.input_tokens * price.input
        + u.output_tokens * price.output
        + u.cache_read_tokens * price.cache_read
    ) / 1_000_000
    assert u.cost_usd == pytest.approx(expected) and expected > 0
    kpis = stack.plane.tasks.kpis()["agents"]
    assert kpis["by_model"]["gpt-5-mini-test"]["cost_usd"] == pytest.approx(expected)
    assert kpis["day"]["runs"] >= 1 and kpis["minute"]["input_tokens"] >= u.input_tokens
    worker_of = d.attempts[-1].worker_id
    assert worker_of in kpis["by_worker"]


def calls_of(stack: Stack, worker_id: str) -> list[dict[str, Any]]:
    w = next(w for w in stack.workers if w.worker_id == worker_id)
    found: list[dict[str, Any]] = []
    for path in w.data_dir.rglob("calls.jsonl"):
        found += [json.loads(line) for line in path.read_text().splitlines() if line]
    return found


def test_a_resumed_session_runs_on_the_worker_that_holds_it(
    stack: Stack, http: httpx.Client
) -> None:
    # two first runs at once: one on each worker (capacity 1 each)
    firsts = [submit(http, "turns=1 sleep=0.3") for _ in range(2)]
    done = [wait_done(http, t) for t in firsts]
    homes = {d.attempts[-1].worker_id for d in done}
    assert len(homes) == 2, "the two first runs should have used both workers"
    for d in done:  # one at a time: the least loaded worker would be the same both times
        follow = submit(http, "turns=1", session_id=d.session_id)
        second = wait_done(http, follow)
        assert second.task.state.value == "succeeded", second.task.reason
        home = d.attempts[-1].worker_id
        assert second.attempts[-1].worker_id == home
        assert second.session_id == d.session_id
        resumed = [c for c in calls_of(stack, home or "") if "--resume" in c["argv"]]
        assert any(c["argv"][-2:] == ["--resume", d.session_id] for c in resumed)


def test_a_run_past_its_budget_is_stopped_not_retried(stack: Stack, http: httpx.Client) -> None:
    t = submit(http, f"turns=6 sleep=0.1 marker={t_marker()}", max_turns=2)
    d = wait_done(http, t)
    assert d.task.state.value == "failed"
    assert "budget_exceeded" in (d.task.reason or "")
    assert d.task.attempt == 1 and len(d.attempts) == 1  # a spent budget is not retried
    assert d.usage is not None and d.usage.turns >= 2
    assert not processes_with(f"marker={d.task.spec['prompt'].split('marker=')[1]}")


def t_marker() -> str:
    return f"m{time.monotonic_ns()}"


def test_cancel_during_a_tool_call_keeps_the_transcript(stack: Stack, http: httpx.Client) -> None:
    marker = t_marker()
    t = submit(http, f"turns=2 tool_sleep=60 marker={marker}")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the live view: items arrive while it runs
        if any(i["type"] == "tool_use" for i in items(http, t)):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no tool_use in the live transcript")
    assert detail(http, t).task.state.value == "running"
    assert processes_with(f"marker={marker}")
    assert http.post(f"/api/v1/tasks/{t}/cancel", json={"reason": "enough"}).status_code == 200
    d = wait_done(http, t)
    assert d.task.state.value == "canceled"
    assert not processes_with(f"marker={marker}")
    got = items(http, t)
    assert got[-1]["type"] == "tool_use" and not any(i["type"] == "tool_result" for i in got)


def test_a_reached_fleet_budget_holds_new_tasks(stack: Stack, http: httpx.Client) -> None:
    spend = submit(http, "turns=2 cost=0.02")
    assert wait_done(http, spend).usage is not None
    with stack.http(None) as anonymous:
        assert anonymous.post("/api/v1/budgets", json={}).status_code == 401
    other = http.post(
        "/api/v1/budgets", json={"name": "team ci", "selector": {"team": "ci"}, "cap_usd": 0.01}
    ).json()
    made = http.post("/api/v1/budgets", json={"name": "all", "period": "hour", "cap_usd": 0.02})
    assert made.status_code == 201, made.text
    budget = made.json()
    try:
        listed = {b["id"]: b for b in http.get("/api/v1/budgets").json()["items"]}
        assert listed[budget["id"]]["exceeded"] is True
        assert listed[budget["id"]]["spent_usd"] >= 0.04
        assert listed[other["id"]]["spent_usd"] == 0 and not listed[other["id"]]["exceeded"]
        held = submit(http, "turns=1")
        deadline = time.monotonic() + 10
        while detail(http, held).task.waiting_for != [f"budget:{budget['id']}"]:
            assert time.monotonic() < deadline, detail(http, held).task
            time.sleep(0.05)
        time.sleep(1.5)  # the recheck runs every second: still held
        assert detail(http, held).task.state.value == "pending"
    finally:
        for b in (budget, other):
            assert http.delete(f"/api/v1/budgets/{b['id']}").status_code == 200
    d = wait_done(http, held)
    assert d.task.state.value == "succeeded"
    assert "task.waiting" in [e.action for e in d.timeline]
    audit = http.get("/api/v1/audit", params={"resource_type": "budget"}).json()["items"]
    assert {e["action"] for e in audit} >= {"budget.created", "budget.deleted"}


def wait_state(http: httpx.Client, task_id: str, state: str, timeout: float = 30.0) -> TaskDetail:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = detail(http, task_id)
        if d.task.state.value == state:
            return d
        time.sleep(0.05)
    raise AssertionError(f"{task_id} not {state} after {timeout}s: {detail(http, task_id).task}")


def test_a_run_past_its_budget_with_pause_waits_for_an_audited_resume(
    stack: Stack, http: httpx.Client
) -> None:
    marker = t_marker()
    t = submit(http, f"turns=4 sleep=0.05 marker={marker}", max_turns=2, on_budget="pause")
    wait_state(http, t, "paused")
    # the attempt rows can trail the task's state by an apply (seen once in a loaded run)
    paused = wait_for(
        lambda: (d := detail(http, t)).attempts and d, 10, "the paused task's attempt recorded"
    )
    assert paused.task.state.value == "paused"
    assert paused.task.waiting_for == ["budget"]
    assert (paused.task.reason or "").startswith("budget_exceeded")
    session = paused.session_id
    home = paused.attempts[-1].worker_id
    assert session and home and paused.task.attempt == 1
    event = next(e for e in paused.timeline if e.action == "task.paused")
    assert event.details["on_budget"] == "pause" and event.details["waiting_for"] == ["budget"]
    # the parked attempt's processes are gone (bounded: a loaded machine reaps them late)
    wait_for(lambda: not processes_with(f"marker={marker}"), 10, "the stopped run's processes gone")
    time.sleep(0.5)  # it waits: nothing dispatches it again on its own
    assert detail(http, t).task.state.value == "paused"

    url = f"/api/v1/tasks/{t}/actions"
    lower = http.post(url, json={"action": "resume", "max_turns": 1})
    assert lower.status_code == 400 and "raised above 2" in lower.text, lower.text
    zero = http.post(url, json={"action": "resume", "max_cost_usd": 0})
    assert zero.status_code == 422, zero.text
    wrong = http.post(url, json={"action": "pause", "max_turns": 9})
    assert wrong.status_code == 400, wrong.text
    assert detail(http, t).task.state.value == "paused"

    with stack.client() as client:
        resumed = client.act(t, "resume", "approved: finish it", max_turns=10)
    assert resumed.spec["max_turns"] == 10 and resumed.spec["session_id"] == session
    assert resumed.waiting_for == []
    done = wait_done(http, t)
    assert done.task.state.value == "succeeded", done.task.reason
    assert done.task.attempt == 2 and done.attempts[-1].worker_id == home  # same worker
    assert done.session_id == session  # the same conversation, continued
    approval = next(e for e in done.timeline if e.details.get("approved") == "budget")
    assert approval.actor == "admin" and approval.details["operator_action"] == "resume"
    assert approval.details["raised"] == {"max_turns": {"from": 2, "to": 10}}
    assert approval.details["reason"] == "approved: finish it"
    calls = [c for c in calls_of(stack, home) if f"marker={marker}" in " ".join(c["argv"])]
    assert len(calls) == 2 and calls[-1]["argv"][-2:] == ["--resume", session]
    # the audit trail is intact with the spec change in it
    verify = http.get("/api/v1/audit/verify")
    assert verify.status_code == 200 and verify.json()["ok"], verify.text


def test_usage_and_cost_are_live_while_a_run_runs(stack: Stack, http: httpx.Client) -> None:
    """``GET /api/v1/tasks/{id}`` shows the running attempt's usage so far, priced from the
    model price table until the runtime reports its own cost (Claude does in its last line)."""
    t = submit(http, f"turns=12 sleep=0.1 marker={t_marker()}", model="claude-sonnet-4-5")
    seen: list[tuple[int, float]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        d = detail(http, t)
        if d.task.state.value in TERMINAL:
            break
        if d.task.state.value == "running" and d.usage is not None:
            assert d.usage.cost_usd is not None
            seen.append((d.usage.turns, d.usage.cost_usd))
        time.sleep(0.1)
    grown = [s for s in seen if s[0] > 0 and s[1] > 0]
    assert len({turns for turns, _ in grown}) >= 2, seen  # it grew while it ran
    # the priced figure: per turn 100 in, 20 out, 1000 cache reads, 50 cache writes (sonnet)
    turns, cost = grown[0]
    assert cost == pytest.approx(turns * 0.0010875, rel=1e-6)
    d = wait_done(http, t)
    assert d.task.state.value == "succeeded" and d.usage is not None
    assert d.usage.turns >= max(turns for turns, _ in seen)


def test_a_fleet_budget_reached_mid_run_stops_the_run(
    stack: Stack, http: httpx.Client, bins: dict[str, Path], tmp_path: Path
) -> None:
    """The fleet's spend counts running attempts: a cap reached mid-run stops the runs that
    match it (visible cancel, reason ``budget_exceeded``) and holds new matching tasks."""
    # task labels also pick workers: one that carries the label the budget selects
    stack.add_worker(tmp_path / "live", capacity=2, labels="team=live", env=agent_env(bins))
    made = http.post(
        "/api/v1/budgets",
        json={"name": "live cap", "selector": {"team": "live"}, "cap_usd": 0.003},
    )
    assert made.status_code == 201, made.text
    budget = made.json()
    marker = t_marker()
    try:
        t = submit(
            http,
            f"turns=60 sleep=0.1 marker={marker}",
            model="claude-sonnet-4-5",
            labels={"team": "live"},
        )
        d = wait_done(http, t)
        assert d.task.state.value == "canceled", d.task.reason
        assert (d.task.reason or "").startswith("budget_exceeded: fleet budget live cap reached")
        assert d.usage is not None and 3 <= d.usage.turns < 60
        requested = [e for e in d.timeline if e.action == "task.cancel_requested"]
        assert requested and requested[0].actor == "system"
        assert not processes_with(f"marker={marker}")
        held = submit(http, "turns=1", labels={"team": "live"})
        deadline = time.monotonic() + 10
        while detail(http, held).task.waiting_for != [f"budget:{budget['id']}"]:
            assert time.monotonic() < deadline, detail(http, held).task
            time.sleep(0.05)
        free = submit(http, "turns=1")  # outside the selector: not held
        assert wait_done(http, free).task.state.value == "succeeded"
    finally:
        assert http.delete(f"/api/v1/budgets/{budget['id']}").status_code == 200
    assert wait_done(http, held).task.state.value == "succeeded"


def test_the_budget_cli_sets_lists_replaces_and_deletes(stack: Stack, http: httpx.Client) -> None:
    runner = CliRunner()
    env = {"AGENCY_URL": stack.url, "AGENCY_TOKEN": ADMIN}

    def cli(*args: str) -> Any:
        return runner.invoke(cli_app, ["budget", *args], env=env)

    out = cli("set", "cli-cap", "--cap", "5", "--period", "week", "-s", "team=cli")
    assert out.exit_code == 0, out.output
    assert (
        out.output.startswith("set cli-cap (") and "of $5.0000 per week for team=cli" in out.output
    )
    listed = json.loads(cli("list", "--json").output)
    mine = [b for b in listed if b["name"] == "cli-cap"]
    assert len(mine) == 1 and mine[0]["selector"] == {"team": "cli"}
    first = mine[0]["id"]
    out = cli("set", "cli-cap", "--cap", "7.5")  # the same name: replaced, not doubled
    assert out.exit_code == 0 and out.output.startswith("replaced cli-cap"), out.output
    mine = [b for b in json.loads(cli("list", "--json").output) if b["name"] == "cli-cap"]
    assert len(mine) == 1 and mine[0]["cap_usd"] == 7.5 and mine[0]["id"] != first
    assert mine[0]["period"] == "day" and mine[0]["selector"] == {}
    assert "cli-cap" in cli("list").output
    bad = cli("set", "x", "--cap", "1", "--period", "fortnight")
    assert bad.exit_code == 2 and "--period must be one of" in bad.output
    assert cli("set", "x", "--cap", "0").exit_code == 2
    assert cli("set", "x", "--cap", "1", "-s", "novalue").exit_code == 2
    out = cli("delete", "cli-cap")
    assert out.exit_code == 0 and out.output.startswith("deleted cli-cap"), out.output
    assert not [b for b in json.loads(cli("list", "--json").output) if b["name"] == "cli-cap"]
    missing = cli("delete", "cli-cap")
    assert missing.exit_code == 1 and "no budget named" in missing.output
    audit = http.get("/api/v1/audit", params={"resource_type": "budget"}).json()["items"]
    ids = {e["resource_id"] for e in audit if e["action"] == "budget.deleted"}
    assert {first, mine[0]["id"]} <= ids


def test_cost_and_token_kpis_are_on_the_metrics_stream(stack: Stack, http: httpx.Client) -> None:
    t = submit(http, "turns=1", model="claude-sonnet-4-5-kpi")
    assert wait_done(http, t).task.state.value == "succeeded"
    with http.stream("GET", "/api/v1/metrics/stream", timeout=30) as answer:
        line = next(x for x in answer.iter_lines() if x.startswith("data:"))
    agents = json.loads(line[len("data:") :])["agents"]
    assert {"minute", "hour", "day", "by_model", "by_label", "by_worker"} <= set(agents)
    assert agents["day"]["runs"] >= 1 and agents["day"]["cost_usd"] > 0
    assert agents["by_model"]["claude-sonnet-4-5-kpi"]["input_tokens"] == 200


def test_the_task_list_carries_each_agent_tasks_usage(stack: Stack, http: httpx.Client) -> None:
    """``GET /api/v1/tasks`` answers each agent task with its usage (the drill-down's figures;
    a running attempt's so far), and none for other tasks; both clients read it."""
    done = submit(http, f"turns=2 marker={t_marker()}", model="claude-sonnet-4-5-test")
    d = wait_done(http, done)
    plain = http.post("/api/v1/tasks", json={"kind": "noop", "labels": {"t": "list-usage"}})
    running = submit(http, f"turns=40 sleep=0.2 marker={t_marker()}", model="claude-sonnet-4-5")

    def row(task_id: str) -> dict[str, Any]:
        items = http.get("/api/v1/tasks", params={"limit": 500}).json()["items"]
        return next(i for i in items if i["id"] == task_id)

    assert row(done)["usage"] == d.model_dump(mode="json")["usage"]
    assert d.usage is not None and row(done)["usage"]["cost_usd"] == pytest.approx(0.03)
    assert row(plain.json()["id"])["usage"] is None
    live = wait_for(
        lambda: (r := row(running))["state"] == "running" and (r["usage"] or {}).get("turns") and r,
        30,
        "the running attempt's usage in the list",
    )
    assert live["usage"]["cost_usd"] > 0
    with AgencyClient(stack.url, ADMIN) as c:
        page = c.tasks_page(text=done)
        assert [t.id for t in page.items] == [done]
        assert page.items[0].usage == d.usage
        frame = c.tasks(text=done)
        assert frame.loc[0, "usage"]["cost_usd"] == pytest.approx(0.03)
    http.post(f"/api/v1/tasks/{running}/cancel", json={"reason": "list usage test done"})
