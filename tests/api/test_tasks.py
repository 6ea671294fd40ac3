"""Task endpoints against a real control plane and a real worker, with their error cases."""

from __future__ import annotations

import json

import httpx
import pytest

from agency.client import AgencyClient
from agency.models import TaskState
from agency.testing import ADMIN, Stack

TERMINAL = {s.value for s in TaskState if s.terminal}


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def _wait(stack: Stack, task_id: str) -> dict:
    with AgencyClient(stack.url, ADMIN) as c:
        return c.wait(task_id, timeout=30).model_dump(mode="json")


def test_submit_one_runs_on_the_worker(stack: Stack, operator: httpx.Client) -> None:
    r = operator.post(
        "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["echo", "hi"]}, "priority": 3}
    )
    assert r.status_code == 201
    task = r.json()
    assert task["state"] == "pending" and task["priority"] == 3 and task["created_by"] == "olga"
    done = _wait(stack, task["id"])
    assert done["state"] == "succeeded" and done["exit_code"] == 0
    out = operator.get(f"/api/v1/tasks/{task['id']}/output").json()
    assert out["data"] == "hi\n" and out["next_offset"] == 3
    tail = operator.get(f"/api/v1/tasks/{task['id']}/output", params={"offset": 1}).json()
    assert tail["data"] == "i\n"
    detail = operator.get(f"/api/v1/tasks/{task['id']}").json()
    assert detail["task"]["state"] == "succeeded"
    assert [a["attempt"] for a in detail["attempts"]] == [1]
    actions = [e["action"] for e in detail["timeline"]]
    assert actions[0] == "task.created" and actions[-1] == "task.succeeded"
    seqs = [e["seq"] for e in detail["timeline"]]
    assert seqs == sorted(seqs)


def test_submit_batch_and_idempotency(stack: Stack, operator: httpx.Client) -> None:
    batch = {
        "tasks": [
            {"kind": "noop"},
            {"kind": "noop", "idempotency_key": "k-1"},
            {"kind": "noop", "priority": 5},
        ]
    }
    r = operator.post("/api/v1/tasks", json=batch)
    assert r.status_code == 201
    tasks = r.json()
    assert [t["kind"] for t in tasks] == ["noop"] * 3 and len({t["id"] for t in tasks}) == 3
    again = operator.post("/api/v1/tasks", json={"kind": "noop", "idempotency_key": "k-1"}).json()
    assert again["id"] == tasks[1]["id"]
    for t in tasks:
        assert _wait(stack, t["id"])["state"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "shell", "spec": {}}, 400, "invalid_spec"),
        ({"kind": "warp", "spec": {}}, 400, "invalid_spec"),
        ({"kind": "shell", "spec": {"argv": ["true"]}, "bogus": 1}, 422, "validation_error"),
        (
            {"kind": "shell", "spec": {"argv": ["true"]}, "priority": "high"},
            422,
            "validation_error",
        ),
        (
            {"kind": "shell", "spec": {"argv": ["true"]}, "priority": 10_000},
            422,
            "validation_error",
        ),
        ({"kind": "noop", "retry": {"max_attempts": 0}}, 422, "validation_error"),
        ({"tasks": []}, 422, "validation_error"),
        ({"tasks": [{"kind": "shell", "spec": {"argv": []}}]}, 400, "invalid_spec"),
        ([1, 2], 422, "validation_error"),
        ("text", 422, "validation_error"),
    ],
)
def test_submit_bad_input(operator: httpx.Client, body: object, status: int, code: str) -> None:
    _error(operator.post("/api/v1/tasks", json=body), status, code)


def test_malformed_json_is_400(operator: httpx.Client) -> None:
    r = operator.post(
        "/api/v1/tasks", content=b'{"kind": "noop",', headers={"Content-Type": "application/json"}
    )
    err = _error(r, 400, "bad_request")
    assert "JSON" in err["message"]


def test_huge_body_is_413(operator: httpx.Client, stack: Stack) -> None:
    big = {"kind": "shell", "spec": {"argv": ["echo", "x" * (stack.settings.max_body_bytes + 10)]}}
    err = _error(operator.post("/api/v1/tasks", json=big), 413, "payload_too_large")
    assert err["details"]["limit"] == stack.settings.max_body_bytes

    def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(20):
            yield b"x" * 100_000

    _error(
        operator.post(
            "/api/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"}
        ),
        413,
        "payload_too_large",
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tasks/nope", None),
        ("GET", "/api/v1/tasks/nope/output", None),
        ("GET", "/api/v1/tasks/nope/replay", None),
        ("POST", "/api/v1/tasks/nope/cancel", {}),
        ("POST", "/api/v1/tasks/nope/actions", {"action": "retry"}),
    ],
)
def test_unknown_task_is_404(operator: httpx.Client, method: str, path: str, body: object) -> None:
    _error(operator.request(method, path, json=body), 404, "not_found")


def test_list_filters_sort_and_cursor(operator: httpx.Client, stack: Stack) -> None:
    marker = "lst-7f3a"
    made = operator.post(
        "/api/v1/tasks",
        json={
            "tasks": [
                {"kind": "noop", "labels": {"batch": marker}, "priority": i} for i in range(7)
            ]
        },
    ).json()
    ids = {t["id"] for t in made}
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"label": f"batch={marker}", "limit": 3, "sort": "priority"}
        if cursor:
            params["cursor"] = cursor
        page = operator.get("/api/v1/tasks", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and set(seen) == ids  # every task once, none twice
    by_priority = {t["id"]: t["priority"] for t in made}
    assert [by_priority[i] for i in seen] == list(range(7))
    desc = operator.get(
        "/api/v1/tasks", params={"label": f"batch={marker}", "sort": "-priority", "limit": 2}
    ).json()
    assert [t["priority"] for t in desc["items"]] == [6, 5]
    # labels place tasks: no worker has this one, so they wait, which the state filter shows
    pending = operator.get(
        "/api/v1/tasks", params={"label": f"batch={marker}", "state": ["pending"], "limit": 50}
    ).json()
    assert {t["id"] for t in pending["items"]} == ids
    none = operator.get(
        "/api/v1/tasks", params={"label": f"batch={marker}", "state": ["failed", "canceled"]}
    ).json()
    assert none["items"] == []
    kind = operator.get("/api/v1/tasks", params={"kind": "noop", "text": made[0]["id"]}).json()
    assert [t["id"] for t in kind["items"]] == [made[0]["id"]]
    gone = operator.post(
        "/api/v1/tasks/bulk-cancel", json={"label": f"batch={marker}", "dry_run": False}
    ).json()
    assert gone["count"] == 7


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
        ({"limit": 0}, 422, "validation_error"),
        ({"limit": 501}, 422, "validation_error"),
        ({"state": "sleepy"}, 422, "validation_error"),
        ({"sort": "name"}, 422, "validation_error"),
        ({"created_after": "yesterday"}, 422, "validation_error"),
        ({"label": "nokey"}, 422, "validation_error"),
    ],
)
def test_list_bad_params(operator: httpx.Client, params: dict, status: int, code: str) -> None:
    _error(operator.get("/api/v1/tasks", params=params), status, code)


def test_cancel_actions_and_bulk_cancel_with_a_paused_queue(
    operator: httpx.Client, stack: Stack
) -> None:
    assert operator.post("/api/v1/queue/pause", json={"reason": "test"}).json() == {"paused": True}
    try:
        assert operator.get("/api/v1/queue").json() == {"paused": True}
        marker = "cx-91"
        tasks = operator.post(
            "/api/v1/tasks",
            json={"tasks": [{"kind": "noop", "labels": {"batch": marker}} for _ in range(4)]},
        ).json()
        one = tasks[0]["id"]
        canceled = operator.post(
            f"/api/v1/tasks/{one}/cancel", json={"reason": "not needed"}
        ).json()
        assert canceled["state"] == "canceled"
        again = operator.post(f"/api/v1/tasks/{one}/cancel")  # idempotent, body optional
        assert again.status_code == 200 and again.json()["state"] == "canceled"
        r = operator.post(
            f"/api/v1/tasks/{one}/actions", json={"action": "retry", "reason": "changed my mind"}
        )
        assert r.status_code == 200 and r.json()["state"] == "pending"
        prio = operator.post(
            f"/api/v1/tasks/{one}/actions", json={"action": "reprioritize", "priority": 9}
        ).json()
        assert prio["priority"] == 9
        paused = operator.post(f"/api/v1/tasks/{one}/actions", json={"action": "pause"}).json()
        assert paused["state"] == "paused"
        _error(
            operator.post(f"/api/v1/tasks/{one}/actions", json={"action": "explode"}),
            422,
            "validation_error",
        )
        _error(
            operator.post(f"/api/v1/tasks/{one}/actions", json={"action": "pause", "x": 1}),
            422,
            "validation_error",
        )
        dry = operator.post(
            "/api/v1/tasks/bulk-cancel", json={"label": f"batch={marker}", "dry_run": True}
        ).json()
        assert dry["dry_run"] is True and dry["count"] == 4
        assert set(dry["task_ids"]) == {t["id"] for t in tasks}
        still = operator.get(f"/api/v1/tasks/{tasks[1]['id']}").json()["task"]["state"]
        assert still == "pending"  # the dry run changed nothing
        real = operator.post(
            "/api/v1/tasks/bulk-cancel",
            json={"label": f"batch={marker}", "dry_run": False, "reason": "cleanup"},
        ).json()
        assert real["count"] == 4 and real["dry_run"] is False
        states = {operator.get(f"/api/v1/tasks/{t['id']}").json()["task"]["state"] for t in tasks}
        assert states == {"canceled"}
        _error(
            operator.post("/api/v1/tasks/bulk-cancel", json={"label": "bad"}),
            422,
            "validation_error",
        )
        audit = operator.get("/api/v1/audit", params={"resource_id": one}).json()["items"]
        cancel = [e for e in audit if e["action"] == "task.canceled"]
        assert cancel[0]["actor"] == "olga" and "not needed" in cancel[0]["details"]["reason"]
    finally:
        assert operator.post("/api/v1/queue/resume").json() == {"paused": False}


def test_running_task_cancel_reaches_the_worker(stack: Stack, operator: httpx.Client) -> None:
    task = operator.post(
        "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["sleep", "600"]}}
    ).json()
    with AgencyClient(stack.url, ADMIN) as c:
        for ev in c.stream_events(after=0, resource_id=task["id"]):
            if ev.action == "task.running":
                break
    r = operator.post(f"/api/v1/tasks/{task['id']}/cancel", json={"reason": "too slow"})
    assert r.status_code == 200 and r.json()["state"] in {
        "cancel_requested",
        "canceling",
        "canceled",
    }
    done = _wait(stack, task["id"])
    assert done["state"] == "canceled"


def test_output_bad_params(operator: httpx.Client) -> None:
    task = operator.post("/api/v1/tasks", json={"kind": "noop"}).json()
    _error(
        operator.get(f"/api/v1/tasks/{task['id']}/output", params={"stream": "stdin"}),
        422,
        "validation_error",
    )
    _error(
        operator.get(f"/api/v1/tasks/{task['id']}/output", params={"offset": -1}),
        422,
        "validation_error",
    )


def test_unknown_route_and_method_use_the_shape(operator: httpx.Client) -> None:
    err = _error(operator.get("/api/v1/nothing-here"), 404, "not_found")
    assert "/api/v1/nothing-here" in err["message"]
    _error(operator.put("/api/v1/tasks"), 405, "method_not_allowed")
    json.dumps(err)
