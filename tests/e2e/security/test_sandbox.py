"""Sandbox enforcement seen from the control plane, through the HTTP API with real workers.

* A spec naming a path outside the worker's roots fails, and the denial is ONE audit event
  ``task.sandbox_denied`` (task, path, rule, worker) beside the ``task.failed`` change,
  whichever way the denial reaches the control plane first: the worker's ``403
  sandbox_denied`` dispatch answer or its pushed report.
* A worker of another make that reports the denial only in ``WorkerTaskStatus.denials``
  (push and poll) gives the same single event, and the task is not retried.
* A shell task that writes ``/etc/passwd`` at run time under bubblewrap fails and the file
  is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.testing import Stack, WorkerProc, serve
from tests.e2e.security.fleet import V1, protocol_worker, submit, task_events, wait_task

RULE = "outside-allowed-roots"
RETRIES_LEFT = {"max_attempts": 3, "backoff": 0}  # a denial must fail at once all the same


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("sandbox")
    with serve(data) as s:
        s.add_worker(data, labels="pool=real", worker_id="real-1")
        yield s


@pytest.fixture(scope="module")
def worker(stack: Stack) -> WorkerProc:
    return stack.workers[0]


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http() as c:
        yield c


def denied_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["action"] == "task.sandbox_denied"]


@pytest.mark.parametrize(
    ("spec", "path", "resolved"),
    [
        ({"argv": ["cat", "passwd"], "files": ["/etc/passwd"]}, "/etc/passwd", "/etc/passwd"),
        (
            {"argv": ["cat", "passwd"], "cwd": "../../../../../../../../../../etc"},
            "../../../../../../../../../../etc",
            "/etc",
        ),
        ({"argv": ["true"], "files": ["ok.txt", "/etc/shadow"]}, "/etc/shadow", "/etc/shadow"),
    ],
)
def test_a_denied_spec_fails_with_one_denial_event(
    http: httpx.Client, worker: WorkerProc, spec: dict[str, Any], path: str, resolved: str
) -> None:
    task_id = submit(
        http, {"kind": "shell", "spec": spec, "labels": {"pool": "real"}, "retry": RETRIES_LEFT}
    )
    task = wait_task(http, task_id)["task"]
    assert task["state"] == "failed" and task["attempt"] == 1, task
    assert "sandbox_denied" in (task["reason"] or ""), task["reason"]
    events = task_events(http, task_id)
    denied = denied_events(events)
    assert len(denied) == 1, [e["action"] for e in events]
    ev = denied[0]
    assert (
        ev["resource_type"] == "task"
        and ev["resource_id"] == task_id
        and ev["actor"] == worker.worker_id
    )
    assert ev["details"]["path"] == path and ev["details"]["rule"] == RULE
    assert ev["details"]["resolved"] == resolved and ev["details"]["worker_id"] == worker.worker_id
    # besides the denial, the state change itself, once: no retry of a denied spec
    assert [e["action"] for e in events].count("task.failed") == 1
    assert "task.pending" not in [e["action"] for e in events[1:]]
    # the denial is in the task's own timeline too, and the audit filter by action finds it
    timeline = http.get(f"{V1}/tasks/{task_id}").json()["timeline"]
    assert ev["seq"] in {e["seq"] for e in timeline}
    by_action = http.get(
        f"{V1}/audit", params={"action": "task.sandbox_denied", "resource_id": task_id}
    )
    assert [e["seq"] for e in by_action.json()["items"]] == [ev["seq"]]


def test_a_spec_inside_the_roots_is_not_denied(http: httpx.Client) -> None:
    task_id = submit(
        http,
        {
            "kind": "shell",
            "labels": {"pool": "real"},
            "spec": {
                "argv": ["sh", "-c", "pwd > here.txt"],
                "cwd": "sub/dir",
                "files": ["here.txt"],
            },
        },
    )
    assert wait_task(http, task_id)["task"]["state"] == "succeeded"
    assert denied_events(task_events(http, task_id)) == []


def test_denials_in_a_reported_status_are_one_event_and_not_retried(
    stack: Stack, http: httpx.Client
) -> None:
    denials = [
        {"path": "/etc/passwd", "resolved": "/etc/passwd", "rule": "read-only-system"},
        {"path": "/root/.ssh", "resolved": "/root/.ssh", "rule": "read-only-system"},
    ]
    with protocol_worker("other-1", stack.url, denials) as other:
        other.register({"pool": "other"})
        ids = [
            submit(
                http,
                {
                    "kind": "shell",
                    "spec": {"argv": ["true"], "files": ["/etc/passwd"]},
                    "labels": {"pool": "other"},
                    "retry": RETRIES_LEFT,
                },
            )
            for _ in range(3)
        ]
        finals = [wait_task(http, t)["task"] for t in ids]
        stack.burst(20)  # every answer (dispatch, push, poll) has been applied
        assert other.pushed and set(other.pushed) == {202}, other.pushed
    for task_id, task in zip(ids, finals, strict=True):
        assert task["state"] == "failed" and task["attempt"] == 1 and task["worker_id"] == "other-1"
        assert task["reason"].startswith("sandbox_denied: path '/etc/passwd'"), task["reason"]
        events = task_events(http, task_id)
        denied = denied_events(events)
        assert len(denied) == 1, [e["action"] for e in events]
        details = denied[0]["details"]
        assert details["path"] == "/etc/passwd" and details["rule"] == "read-only-system"
        assert details["worker_id"] == "other-1" and details["denials"] == denials
        assert [e["action"] for e in events].count("task.failed") == 1


def test_writing_etc_passwd_at_run_time_fails_under_bubblewrap(
    http: httpx.Client, worker: WorkerProc
) -> None:
    with worker.client() as w:
        sandbox = w.get("/status").json()["sandbox"]
    if sandbox != "bwrap":
        # without bubblewrap the worker (as root here) could really append to /etc/passwd
        pytest.skip(f"bubblewrap does not work on this machine (worker sandbox: {sandbox})")
    passwd = Path("/etc/passwd")
    before = hashlib.sha256(passwd.read_bytes()).hexdigest()
    task_id = submit(
        http,
        {
            "kind": "shell",
            "labels": {"pool": "real"},
            "retry": {"max_attempts": 1},
            "spec": {"argv": ["sh", "-c", "echo x >> /etc/passwd"]},
        },
    )
    task = wait_task(http, task_id)["task"]
    assert hashlib.sha256(passwd.read_bytes()).hexdigest() == before
    assert task["state"] == "failed" and task["exit_code"] not in (None, 0), task
    err = http.get(f"{V1}/tasks/{task_id}/output", params={"stream": "stderr"}).json()["data"]
    assert "Read-only file system" in err, err
