"""Issue 18: a control plane killed (SIGKILL) while a real ``ag-agent-claude`` runs one of its
tasks finds that task again when it restarts: the agent's own task id was stored
(``agent_links``), so the attempt is polled to its end, not orphaned and run twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from agency.client import AgencyClient
from agency.models import TaskState, WorkerAttachIn, WorkerTLS
from agency.testing import free_port, start_control_plane
from tests.e2e.agency_agent.agents import BIN, start_agent

pytestmark = [
    pytest.mark.skipif(not BIN.exists(), reason="ag-agent-claude binary not present"),
    pytest.mark.slow,
]

SETTINGS = {"AGENCY_LOG_LEVEL": "WARNING", "AGENCY_HEARTBEAT_INTERVAL": "0.5"}


def _client(data: Path, url: str) -> AgencyClient:
    return AgencyClient(url, (data / "admin.token").read_text().strip())


def test_a_killed_control_plane_reattaches_to_the_agents_running_task(tmp_path: Path) -> None:
    agent = start_agent(tmp_path / "agent")
    data, port = tmp_path / "cp", free_port()
    up = start_control_plane(data, settings=SETTINGS, port=port)
    try:
        with _client(data, up.url) as client:
            client.attach_worker(
                WorkerAttachIn(id="agent-0", url=agent.url, tls=WorkerTLS(fingerprint=agent.pin))
            )
            t = client.submit("agent", {"prompt": "sleep 6"}, retry={"max_attempts": 3})
            deadline = time.monotonic() + 30
            while not any("sleep 6" in " ".join(c["argv"]) for c in agent.calls()):
                assert time.monotonic() < deadline, up.read_log()
                time.sleep(0.05)
            while client.task(t.id).task.state is not TaskState.RUNNING:
                assert time.monotonic() < deadline, up.read_log()
                time.sleep(0.05)
        os.killpg(up.pid, signal.SIGKILL)  # no shutdown path runs: as a crash
        up.proc.wait(timeout=10)
        assert agent.state() == "working"  # the agent goes on with its run meanwhile
        up = start_control_plane(data, settings=SETTINGS, port=port)
        with _client(data, up.url) as client:
            done = client.wait(t.id, timeout=60)
            assert done.state is TaskState.SUCCEEDED, done.reason
            assert done.attempt == 1 and done.worker_id == "agent-0"
            assert client.output(t.id).data == "done: sleep 6"
            detail = client.task(t.id)
            assert detail.usage is not None and detail.usage.input_tokens == 120
            assert not any(e.action == "task.orphaned" for e in detail.timeline)
        runs = [c for c in agent.calls() if "sleep 6" in " ".join(c["argv"])]
        assert len(runs) == 1  # run once, never again after the restart
    finally:
        up.stop(grace=20)
        agent.stop()
