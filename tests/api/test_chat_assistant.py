"""The operator assistant: real data, the session owner's rights, read-only SQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import ClientConnection

from agency.control.chat.assistant import HELP, parse_submit
from agency.errors import BadRequest, InvalidSpec
from agency.models import Role
from agency.testing import Stack
from tests.api.test_chat_ws import exchange, new_session, open_ws

pytestmark = pytest.mark.plane("limits")  # no worker, small limits: tests/api/planes.py


@pytest.fixture(scope="module")
def op_ws(stack: Stack, operator: httpx.Client) -> Iterator[ClientConnection]:
    sid = new_session(operator, "operator chat")
    with open_ws(stack, sid, token=stack.token("olivia", Role.OPERATOR)) as ws:
        yield ws


@pytest.fixture(scope="module")
def viewer_ws(stack: Stack, viewer: httpx.Client) -> Iterator[ClientConnection]:
    sid = new_session(viewer, "viewer chat")
    with open_ws(stack, sid, token=stack.token("victor", Role.VIEWER)) as ws:
        yield ws


def ask(ws: ClientConnection, text: str) -> str:
    return str(exchange(ws, text)[1]["content"])


def submitted_id(answer: str) -> str:
    found = re.search(r"submitted task ([0-9a-f]+)", answer)
    assert found, answer
    return found.group(1)


def test_help_unknown_command_and_free_text_without_a_model(op_ws: ClientConnection) -> None:
    assert ask(op_ws, "/help") == HELP
    assert "Unknown command '/frobnicate'" in ask(op_ws, "/frobnicate now")
    answer = ask(op_ws, "how are my workers doing?")
    assert answer.startswith("No language model is configured") and HELP in answer


def test_status_reports_health_and_kpis(op_ws: ClientConnection) -> None:
    answer = ask(op_ws, "/status")
    assert re.match(r"status: (healthy|degraded|unhealthy)", answer), answer
    assert "queue depth" in answer


def test_operator_submits_lists_and_cancels(op_ws: ClientConnection, admin: httpx.Client) -> None:
    task_id = submitted_id(ask(op_ws, "/submit shell echo 'hello world'"))
    task = admin.get(f"/api/v1/tasks/{task_id}").json()["task"]
    assert task["created_by"] == "olivia" and task["spec"]["argv"] == ["echo", "hello world"]
    noop_id = submitted_id(ask(op_ws, '/submit noop {"sleep": 0}'))
    assert admin.get(f"/api/v1/tasks/{noop_id}").json()["task"]["kind"] == "noop"
    listing = ask(op_ws, "/tasks")
    assert task_id in listing and noop_id in listing
    assert task_id in ask(op_ws, "/tasks pending")
    assert task_id not in ask(op_ws, "/tasks succeeded")
    assert "unknown state 'bogus'" in ask(op_ws, "/tasks bogus")
    answer = ask(op_ws, f"/cancel {task_id} not needed")
    assert answer == f"task {task_id} is canceled"
    task = admin.get(f"/api/v1/tasks/{task_id}").json()
    assert task["task"]["state"] == "canceled"
    assert any(
        e["actor"] == "olivia" and e["action"].startswith("task.cancel") for e in task["timeline"]
    )
    assert "not_found" in ask(op_ws, "/cancel no-such-task")


def test_bad_submissions_are_explained(op_ws: ClientConnection) -> None:
    assert "invalid_spec" in ask(op_ws, "/submit teleport {}")
    assert "not valid JSON" in ask(op_ws, "/submit noop {nope")
    assert "invalid_spec" in ask(op_ws, '/submit shell {"argv": []}')
    assert "usage: /submit" in ask(op_ws, "/submit")


def test_a_viewer_cannot_submit_or_cancel(
    viewer_ws: ClientConnection, op_ws: ClientConnection, admin: httpx.Client
) -> None:
    task_id = submitted_id(ask(op_ws, "/submit noop {}"))
    before = admin.get("/api/v1/tasks", params={"limit": 500}).json()["items"]
    answer = ask(viewer_ws, f"/cancel {task_id}")
    assert "forbidden" in answer and "operator role" in answer
    assert admin.get(f"/api/v1/tasks/{task_id}").json()["task"]["state"] == "pending"
    assert "forbidden" in ask(viewer_ws, "/submit shell echo no")
    assert len(admin.get("/api/v1/tasks", params={"limit": 500}).json()["items"]) == len(before)
    # reads are fine for a viewer
    assert task_id in ask(viewer_ws, "/tasks")
    assert ask(viewer_ws, "/workers") == "No workers registered."


def test_sql_reads_and_refuses_writes(
    stack: Stack, op_ws: ClientConnection, admin: httpx.Client
) -> None:
    answer = ask(op_ws, "/sql SELECT 41 + 1 AS answer, 'x' AS label")
    assert "answer" in answer and "42" in answer and "1 row(s)" in answer
    for sql in (
        "DROP TABLE tasks",
        "INSERT INTO chat_sessions VALUES ('x', 'y', 'z', now())",
        "UPDATE tasks SET state = 'failed'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT 1; DROP TABLE tasks",
    ):
        answer = ask(op_ws, f"/sql {sql}")
        assert answer.startswith("/sql failed (query_refused)"), (sql, answer)
    assert admin.get("/api/v1/tasks").status_code == 200  # the table is intact
    assert "row cap of 100" in ask(op_ws, "/sql SELECT * FROM range(1000)")
    runs = stack.call(
        lambda: stack.plane.repos.store.fetch(
            "SELECT actor, status, \"rows\" FROM query_runs WHERE query_id IS NULL AND actor = 'olivia'"
        )
    )
    assert {"ok", "error"} <= {r["status"] for r in runs}


def test_parse_submit() -> None:
    assert parse_submit("shell ls -la '/tmp/a b'").spec == {"argv": ["ls", "-la", "/tmp/a b"]}
    assert parse_submit("agent fix the flaky test").spec == {"prompt": "fix the flaky test"}
    assert parse_submit('noop {"sleep": 0.5}').spec == {"sleep": 0.5}
    with pytest.raises(BadRequest):
        parse_submit("noop sleep 5")
    with pytest.raises(BadRequest):
        parse_submit('noop ["a"]')
    with pytest.raises(InvalidSpec):
        parse_submit('noop {"bogus": 1}')
