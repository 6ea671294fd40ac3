"""Issue 18: the seed's own ``ag-agent-claude``, the real binary, driven unchanged as a worker
with ``protocol: agency-agent`` (HTTPS with its self-signed certificate pinned, no auth, one
task at a time). Nothing is mocked between the control plane and the agents; only the Claude
CLI the agents run is a fake (``fake_claude.py``)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.client import AgencyClient
from agency.models import TaskState, WorkerAttachIn, WorkerTLS
from agency.testing import ADMIN, Stack, serve
from tests.e2e.agency_agent.agents import BIN, Agent, start_agent

pytestmark = pytest.mark.skipif(not BIN.exists(), reason="ag-agent-claude binary not present")

WRONG = "sha256:" + "f" * 64


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Agent]]:
    root = tmp_path_factory.mktemp("agents")
    started = [start_agent(root / f"a{i}") for i in range(2)]
    try:
        yield started
    finally:
        for a in started:
            a.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, agents: list[Agent]) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cp"), heartbeat_interval=0.5) as s:
        with s.client(ADMIN) as client:
            for i, a in enumerate(agents):
                body = WorkerAttachIn(
                    id=f"agent-{i}",
                    url=a.url,
                    tls=WorkerTLS(fingerprint=a.pin),
                    labels={"i": str(i)},
                )
                info = client.attach_worker(body)
                assert info.protocol == "agency-agent" and info.capacity == 1
        yield s


@pytest.fixture
def client(stack: Stack) -> Iterator[AgencyClient]:
    with stack.client(ADMIN) as c:
        yield c


def test_attach_refuses_unpinned_and_wrong_pin_with_an_audit_event(
    stack: Stack, agents: list[Agent]
) -> None:
    with stack.http() as http:
        for tls in (None, {"fingerprint": WRONG}):
            body = {"id": "agent-bad", "url": agents[0].url, "protocol": "agency-agent"}
            if tls:
                body["tls"] = tls
            answer = http.post("/api/v1/workers", json=body)
            assert answer.status_code == 403, answer.text
            assert answer.json()["error"]["code"] == "worker_tls_refused"
        ids = [w["id"] for w in http.get("/api/v1/workers").json()["items"]]
        assert "agent-bad" not in ids
    with stack.client(ADMIN) as c:
        events = c.audit(action="worker.refused", resource_id="agent-bad")
    assert len(events) == 2
    assert any("fingerprint mismatch" in d["reason"] for d in events["details"])


def test_cli_attach_with_fingerprint(stack: Stack, agents: list[Agent]) -> None:
    argv = ["worker", "attach", agents[0].url, "--id", "agent-cli", "--labels", "via=cli"]
    argv += ["--fingerprint", agents[0].pin, "--url", stack.url, "--token", ADMIN]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "attached agent-cli (agency-agent)" in result.output
    wrong = CliRunner().invoke(app, [*argv[:-6], "--fingerprint", WRONG, *argv[-4:]])
    assert wrong.exit_code == 1 and "worker_tls_refused" in wrong.output
    with stack.client(ADMIN) as c:
        info = c.remove_worker("agent-cli", reason="test done")
    assert info.labels == {"via": "cli"}


def test_workers_list_shows_protocol_state_and_version(stack: Stack) -> None:
    deadline = time.monotonic() + 10
    while True:
        with stack.http() as http:
            items = {w["id"]: w for w in http.get("/api/v1/workers").json()["items"]}
        ready = [w for w in items.values() if w["agent_state"] == "idle" and w["version"]]
        if len(ready) == 2:
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.2)
    w = items["agent-0"]
    listed = CliRunner().invoke(app, ["worker", "list", "--url", stack.url, "--token", ADMIN])
    assert listed.exit_code == 0, listed.output
    assert "agent-0 agency-agent healthy breaker=closed slots=0/1" in listed.output
    assert "agent=idle" in listed.output
    assert w["protocol"] == "agency-agent" and w["health"] == "healthy"
    assert w["tls"]["fingerprint"].startswith("sha256:") and w["version"].startswith("v3")


def test_six_tasks_over_two_agents_succeed_with_output_and_usage(
    client: AgencyClient, agents: list[Agent]
) -> None:
    tasks = [client.submit("agent", {"prompt": f"hello {i}"}) for i in range(6)]
    for t in tasks:
        done = client.wait(t.id, timeout=60)
        assert done.state is TaskState.SUCCEEDED, done.reason
    workers = set()
    for i, t in enumerate(tasks):
        detail = client.task(t.id)
        workers.add(detail.task.worker_id)
        out = client.output(t.id)
        assert out.data == f"done: hello {i}"
        assert detail.usage is not None and detail.usage.input_tokens == 120
        assert detail.usage.output_tokens == 30
        assert detail.session_id
        # none was counted as a failed attempt for a busy agent
        assert detail.task.attempt == 1
    assert workers == {"agent-0", "agent-1"}


def test_busy_agents_hold_tasks_back_without_failing_them(
    client: AgencyClient, agents: list[Agent]
) -> None:
    for a in agents:
        a.wait_idle()
    # both agents taken by someone else, behind agency's back
    for a in agents:
        with a.http() as http:
            assert http.post("/task", json={"prompt": "sleep 2"}).status_code == 201
    tasks = [client.submit("agent", {"prompt": f"after busy {i}"}) for i in range(2)]
    gave_back = False
    for t in tasks:
        done = client.wait(t.id, timeout=60)
        assert done.state is TaskState.SUCCEEDED, done.reason
        assert done.attempt == 1
        timeline = client.task(t.id).timeline
        assert not any(e.action == "task.failed" for e in timeline)
        gave_back |= any("worker_full" in str(e.model_dump()) for e in timeline)
    assert gave_back, "no dispatch met a busy agent (409 agent_busy)"


def test_cancel_mid_run_kills_the_cli(client: AgencyClient, agents: list[Agent]) -> None:
    for a in agents:
        a.wait_idle()
    t = client.submit("agent", {"prompt": "sleep 30"})
    deadline = time.monotonic() + 20
    while client.task(t.id).task.state is not TaskState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    agent = agents[int(client.task(t.id).task.worker_id[-1])]  # type: ignore[index]
    deadline = time.monotonic() + 10
    while not any("sleep 30" in " ".join(c["argv"]) for c in agent.calls()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = next(c["pid"] for c in agent.calls() if "sleep 30" in " ".join(c["argv"]))
    client.cancel(t.id, reason="test")
    done = client.wait(t.id, timeout=30)
    assert done.state is TaskState.CANCELED
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the fake CLI survived the cancel"
        time.sleep(0.05)


def test_session_continued_with_resume(client: AgencyClient, agents: list[Agent]) -> None:
    first = client.submit("agent", {"prompt": "remember 42"})
    assert client.wait(first.id, timeout=60).state is TaskState.SUCCEEDED
    session = client.task(first.id).session_id
    assert session
    second = client.submit("agent", {"prompt": "what was it", "session_id": session})
    assert client.wait(second.id, timeout=60).state is TaskState.SUCCEEDED
    detail = client.task(second.id)
    assert detail.task.worker_id == client.task(first.id).task.worker_id
    agent = agents[int(detail.task.worker_id[-1])]  # type: ignore[index]
    resumed = [c["argv"] for c in agent.calls() if "what was it" in " ".join(c["argv"])]
    assert resumed and resumed[0][resumed[0].index("--resume") + 1] == session


def test_failed_cli_maps_error_type_to_reason(client: AgencyClient) -> None:
    t = client.submit("agent", {"prompt": "fail"}, retry={"max_attempts": 1})
    done = client.wait(t.id, timeout=60)
    assert done.state is TaskState.FAILED
    assert done.reason is not None and "claude_error" in done.reason


def test_agent_killed_mid_task_orphans_it_and_the_other_finishes_it(
    client: AgencyClient, agents: list[Agent], tmp_path: Path
) -> None:
    for a in agents:
        a.wait_idle()
    marker = tmp_path / "slept"
    t = client.submit("agent", {"prompt": f"sleep-once {marker} 60"}, retry={"max_attempts": 2})
    deadline = time.monotonic() + 20
    while not marker.exists() or client.task(t.id).task.state is not TaskState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first = client.task(t.id).task.worker_id
    assert first is not None
    victim = agents[int(first[-1])]
    victim.stop(signal.SIGKILL)
    done = client.wait(t.id, timeout=60)
    assert done.state is TaskState.SUCCEEDED, done.reason
    assert done.attempt == 2 and done.worker_id not in (None, first)
    assert any(e.action == "task.orphaned" for e in client.task(t.id).timeline)


def test_agents_unusual_shapes(agents: list[Agent], tmp_path: Path) -> None:
    """History-shaped answers, 404 on a cancel after completion, exit status 1 on shutdown."""
    a = start_agent(tmp_path / "extra")
    with a.http() as http:
        task_id = http.post("/task", json={"prompt": "quick"}).json()["task_id"]
        deadline = time.monotonic() + 10
        while (body := http.get(f"/task/{task_id}").json())["state"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "prompt" in body and "has_debug_log" in body  # the history shape
        assert http.post(f"/task/{task_id}/cancel").status_code == 404
    assert a.stop() == 1
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{a.url}/status", verify=False, timeout=1)


def test_cost_turns_and_transcript_come_from_the_agents_history(client: AgencyClient) -> None:
    """The agent's task answer has only input and output tokens; its history's debug log (the
    CLI's stdout) gives the cost, the turns and the transcript."""
    t = client.submit("agent", {"prompt": "history please"})
    assert client.wait(t.id, timeout=60).state is TaskState.SUCCEEDED
    detail = client.task(t.id)
    assert detail.usage is not None
    assert detail.usage.cost_usd == 0.001 and detail.usage.turns == 1
    assert (detail.usage.input_tokens, detail.usage.output_tokens) == (120, 30)
    items = client.transcript(t.id).items
    assert [(i.type, i.text) for i in items] == [("result", "done: history please")]
