"""Child tasks from inside a task (a director delegating), through a real control plane and a
real worker process: the task's own ``AGENCY_URL``/``AGENCY_TOKEN``, ``agency task submit
--wait`` and ``AgencyClient()`` unchanged, the token's scope and end, the cancel cascade."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from agency.cli import app
from agency.testing import ADMIN, Stack, pid_alive, serve, wait_for

runner = CliRunner()

# run inside the parent task: the CLI submits a child and waits; the client reads its output
DELEGATE = """
import json, subprocess, sys
from agency.client import AgencyClient
cli = [sys.executable, "-m", "agency", "task", "submit", "shell", "--wait", "--json",
       "--", "echo", "hi from the child"]
done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
assert done.returncode == 0, done.stdout + done.stderr
child = json.loads(done.stdout)
with AgencyClient() as client:
    print("child", child["id"], child["parent_id"], child["state"])
    print("output", client.output(child["id"]).data.strip())
"""

# run inside the parent task: what its token may and may not do, printed as one JSON line
PROBE = """
import json, os, sys
import httpx
unrelated, unrelated_key = sys.argv[1], sys.argv[2]
me = os.environ["AGENCY_TASK_ID"]
h = {"Authorization": "Bearer " + os.environ["AGENCY_TOKEN"]}
with httpx.Client(base_url=os.environ["AGENCY_URL"], headers=h, timeout=30) as c:
    def code(r):
        return [r.status_code, r.json().get("error", {}).get("code") if r.status_code >= 400 else None]
    child = c.post("/api/v1/tasks", json={"kind": "noop"})
    out = {
        "child": child.json(),
        "own": code(c.get(f"/api/v1/tasks/{me}")),
        "child_read": code(c.get(f"/api/v1/tasks/{child.json()['id']}")),
        "children": [t["id"] for t in c.get("/api/v1/tasks").json()["items"]],
        "unrelated": code(c.get(f"/api/v1/tasks/{unrelated}")),
        "unrelated_output": code(c.get(f"/api/v1/tasks/{unrelated}/output")),
        "other_parent": code(c.post("/api/v1/tasks", json={"kind": "noop", "parent_id": unrelated})),
        "other_key": code(c.post("/api/v1/tasks", json={"kind": "noop", "idempotency_key": unrelated_key})),
        "list_other": code(c.get("/api/v1/tasks", params={"parent_id": unrelated})),
        "stream_all": code(c.get("/api/v1/events/stream", params={"resource_type": "*"})),
        "workers": code(c.get("/api/v1/workers")),
        "cancel": code(c.post(f"/api/v1/tasks/{unrelated}/cancel")),
        "tokens": code(c.get("/api/v1/tokens")),
    }
print(json.dumps({"token": os.environ["AGENCY_TOKEN"], "url": os.environ["AGENCY_URL"], **out}))
"""

# run inside the parent task: a child that sleeps for a length no other process uses (found
# by it in /proc: inside the sandbox's pid namespace the child's own $$ means nothing here)
SPAWN = """
import sys
from agency.client import AgencyClient
with AgencyClient() as client:
    child = client.submit("shell", {"argv": ["sleep", sys.argv[1]]})
    print(child.id, flush=True)
import time
time.sleep(600)
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("child"), workers=1, cancel_grace=1.0) as s:
        yield s


def _python(script: str, *args: str) -> dict[str, object]:
    return {"kind": "shell", "spec": {"argv": [sys.executable, "-c", script, *args]}}


def _stdout(http: httpx.Client, task_id: str) -> str:
    data: str = http.get(f"/api/v1/tasks/{task_id}/output").json()["data"]
    return data


def _final(stack: Stack, task_id: str, timeout: float = 120.0) -> dict[str, object]:
    with stack.http() as http:

        def done() -> dict[str, object] | None:
            task: dict[str, object] = http.get(f"/api/v1/tasks/{task_id}").json()["task"]
            return task if task["state"] in ("succeeded", "failed", "canceled") else None

        return wait_for(done, timeout=timeout, what=f"task {task_id} to end")


def test_a_task_submits_a_child_and_waits_for_it(stack: Stack) -> None:
    with stack.http() as http:
        parent = http.post("/api/v1/tasks", json=_python(DELEGATE)).json()
        final = _final(stack, parent["id"])
        err = http.get(f"/api/v1/tasks/{parent['id']}/output?stream=stderr").json()["data"]
        assert final["state"] == "succeeded", err
        out = wait_for(
            lambda: "output " in (text := _stdout(http, parent["id"])) and text,
            what="the parent's whole output",
        )
        child_line = next(line for line in out.splitlines() if line.startswith("child "))
        _, child_id, child_parent, child_state = child_line.split()
        assert child_parent == parent["id"] and child_state == "succeeded"
        assert "output hi from the child" in out
        child = http.get(f"/api/v1/tasks/{child_id}").json()
        assert child["task"]["parent_id"] == parent["id"]
        assert child["task"]["created_by"] == f"task:{parent['id']}"
        # every event of the child names its parent: the audit shows the tree
        assert child["timeline"] and all(
            e["details"]["parent_id"] == parent["id"] for e in child["timeline"]
        )
        detail = http.get(f"/api/v1/tasks/{parent['id']}").json()
        assert detail["task"]["parent_id"] is None and detail["children"] == [child_id]
        # the parent's own timeline records what it delegated, by whom
        added = [e for e in detail["timeline"] if e["action"] == "task.child_added"]
        assert [(e["details"]["child_id"], e["actor"]) for e in added] == [
            (child_id, f"task:{parent['id']}")
        ]
        listed = http.get("/api/v1/tasks", params={"parent_id": parent["id"]}).json()["items"]
        assert [t["id"] for t in listed] == [child_id]
    result = runner.invoke(
        app, ["task", "show", parent["id"], "--url", stack.url, "--token", ADMIN]
    )
    assert result.exit_code == 0 and f"children (1): {child_id}" in result.output
    result = runner.invoke(app, ["task", "show", child_id, "--url", stack.url, "--token", ADMIN])
    assert f"parent: {parent['id']}" in result.output


def test_the_task_token_reaches_only_its_subtree_and_ends_with_the_task(
    stack: Stack,
) -> None:
    with stack.http() as http:
        key = f"unrelated-{random.random()}"
        body = {"kind": "noop", "idempotency_key": key}
        unrelated = http.post("/api/v1/tasks", json=body).json()["id"]
        parent = http.post("/api/v1/tasks", json=_python(PROBE, unrelated, key)).json()
        final = _final(stack, parent["id"])
        err = http.get(f"/api/v1/tasks/{parent['id']}/output?stream=stderr").json()["data"]
        assert final["state"] == "succeeded", err
        # the output is stored with the final change: wait for the write, not only the state
        text = wait_for(lambda: _stdout(http, parent["id"]).strip(), what="the report")
        got = json.loads(text.splitlines()[-1])
    assert got["url"] == stack.url
    assert got["child"]["parent_id"] == parent["id"]  # forced to its own task
    assert got["child"]["created_by"] == f"task:{parent['id']}"
    assert got["own"] == [200, None] and got["child_read"] == [200, None]
    assert got["children"] == [got["child"]["id"]]
    probes = ("unrelated", "unrelated_output", "other_parent", "other_key", "list_other")
    for probe in (*probes, "stream_all"):
        assert got[probe] == [403, "out_of_scope"], (probe, got[probe])
    for probe in ("workers", "cancel", "tokens"):
        assert got[probe] == [403, "out_of_scope"], (probe, got[probe])
    # the refusals are in the audit trail, as the task's own
    with stack.http() as http:
        refused = wait_for(
            lambda: http.get(
                "/api/v1/audit",
                params={"action": "auth.forbidden", "actor": f"task:{parent['id']}"},
            ).json()["items"],
            what="the task token's refusals in the audit trail",
        )
        assert {e["details"]["code"] for e in refused} == {"out_of_scope"}
        assert unrelated in {e["resource_id"] for e in refused}
    # the task has ended: its token is refused everywhere
    with stack.http(got["token"]) as http:
        answer = http.get(f"/api/v1/tasks/{parent['id']}")
        assert answer.status_code == 401, answer.text
        assert "ended" in answer.json()["error"]["message"]
        assert http.post("/api/v1/tasks", json={"kind": "noop"}).status_code == 401
    # and a forged one (the same body with another task id) is unknown
    forged = got["token"].replace(parent["id"], unrelated)
    with stack.http(forged) as http:
        assert http.get(f"/api/v1/tasks/{unrelated}").status_code == 401


def _sleepers(seconds: str) -> list[int]:
    """Pids of the ``sleep <seconds>`` processes on this machine."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and argv[:2] == [b"sleep", seconds.encode()]:
            found.append(int(proc.name))
    return found


def test_canceling_the_parent_cancels_its_running_child(stack: Stack) -> None:
    seconds = f"{600 + random.random():.6f}"
    with stack.http() as http:
        parent = http.post("/api/v1/tasks", json=_python(SPAWN, seconds)).json()
        child_id = wait_for(
            lambda: _stdout(http, parent["id"]).strip(), timeout=120, what="the child's id"
        )
        (child_pid,) = wait_for(lambda: _sleepers(seconds), timeout=60, what="the child's process")
        assert pid_alive(child_pid)
        answer = http.post(f"/api/v1/tasks/{parent['id']}/cancel", json={"reason": "enough"})
        assert answer.status_code == 200, answer.text
        assert _final(stack, parent["id"])["state"] == "canceled"
        child = _final(stack, child_id)
        assert child["state"] == "canceled"
        assert wait_for(lambda: not pid_alive(child_pid), timeout=30, what="the child's exit")
        timeline = http.get(f"/api/v1/tasks/{child_id}").json()["timeline"]
        requested = next(e for e in timeline if e["action"] == "task.cancel_requested")
        assert requested["actor"] == "admin"
        assert f"parent {parent['id']} was canceled" in requested["details"]["reason"]
        assert requested["details"]["parent_id"] == parent["id"]


def test_an_unknown_parent_is_refused_naming_the_field(stack: Stack) -> None:
    with stack.http() as http:
        answer = http.post("/api/v1/tasks", json={"kind": "noop", "parent_id": "nope"})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["details"]["field"] == "parent_id" and "parent_id" in error["message"]
        batch = {"tasks": [{"kind": "noop"}, {"kind": "noop", "parent_id": "nope"}]}
        assert http.post("/api/v1/tasks", json=batch).status_code == 422
        # nothing of the batch landed
        assert http.get("/api/v1/tasks", params={"parent_id": "nope"}).json()["items"] == []


def test_a_child_of_a_canceled_parent_is_refused(stack: Stack) -> None:
    with stack.http() as http:
        http.post("/api/v1/queue/pause")
        try:
            parent = http.post("/api/v1/tasks", json={"kind": "noop"}).json()
            child = http.post(
                "/api/v1/tasks", json={"kind": "noop", "parent_id": parent["id"]}
            ).json()
            http.post(f"/api/v1/tasks/{parent['id']}/cancel")
            # the queued child was canceled with it, by the same cancel
            got = http.get(f"/api/v1/tasks/{child['id']}").json()["task"]
            assert got["state"] == "canceled" and parent["id"] in got["reason"]
            late = http.post("/api/v1/tasks", json={"kind": "noop", "parent_id": parent["id"]})
            assert (
                late.status_code == 409 and late.json()["error"]["details"]["field"] == "parent_id"
            )
        finally:
            http.post("/api/v1/queue/resume")


def test_a_token_expires_on_its_own(stack: Stack) -> None:
    tokens = stack.plane.tasks.task_tokens
    with stack.http() as http:
        parent = http.post("/api/v1/tasks", json={"kind": "noop"}).json()
    expired = tokens.mint(parent["id"], 1, datetime.now(UTC) - timedelta(seconds=5))
    with stack.http(expired) as http:
        answer = http.get(f"/api/v1/tasks/{parent['id']}")
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "token_expired"
