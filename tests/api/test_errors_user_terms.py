"""Every 4xx names the field in the user's terms, never pydantic's internals (issue 14, item 3)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from agency.testing import Stack

# what pydantic's own locations and messages look like: none may reach a client
LEAKS = ("function-after", "model_attributes_type", "_valid_spec", "TaskSubmit", "TaskBatch")

SHELL = {"kind": "shell", "spec": {"argv": ["true"]}}

BAD_TASK_BODIES: list[tuple[Any, int, str]] = [
    ([SHELL, SHELL, SHELL, {"kind": "shell", "spec": {}}], 400, "tasks[3].spec.argv: required"),
    ({"tasks": [SHELL, {"kind": "shell", "spec": {}}]}, 400, "tasks[1].spec.argv: required"),
    ({"kind": "shell", "spec": {}}, 400, "spec.argv: required"),
    ({"kind": "shell", "spec": {"argv": "echo hi"}}, 400, "spec.argv:"),
    (
        {"kind": "shell", "spec": {"argv": ["true"], "shell": True}},
        400,
        "spec.shell: unknown field",
    ),
    ({"kind": "warp"}, 400, "kind: unknown task kind 'warp'"),
    ([SHELL, {"kind": "warp"}], 400, "tasks[1].kind: unknown task kind"),
    ({"spec": {}}, 422, "kind: required"),
    ({**SHELL, "bogus": 1}, 422, "bogus: unknown field"),
    ({**SHELL, "priority": "high"}, 422, "priority: must be an integer"),
    ({**SHELL, "priority": 10_000}, 422, "priority:"),
    ({**SHELL, "labels": ["a"]}, 422, "labels: must be an object"),
    ({**SHELL, "retry": {"max_attempts": 0}}, 422, "retry.max_attempts:"),
    ({**SHELL, "deadline": "soon"}, 422, "deadline: must be an ISO 8601 date-time"),
    ({"tasks": []}, 422, "tasks:"),
    ({"tasks": "x"}, 422, "tasks: must be a list"),
    ([], 422, "tasks:"),
    ([1, 2], 422, "tasks[0]: must be an object"),
    ([SHELL, {"spec": {}}], 422, "tasks[1].kind: required"),
    ("text", 422, "body: must be an object or a list"),
    (7, 422, "body: must be an object or a list"),
]


def _check(response: httpx.Response, status: int, expected: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    err = response.json()["error"]
    assert set(err) == {"code", "message", "details"}
    assert expected in err["message"], err["message"]
    for leak in LEAKS:
        assert leak not in err["message"], err["message"]
    for e in err["details"].get("errors", []):
        assert set(e) >= {"loc", "field", "msg", "type"}
        assert not any(leak in e["field"] or leak in e["msg"] for leak in LEAKS), e
    return dict(err)


@pytest.mark.parametrize(("body", "status", "expected"), BAD_TASK_BODIES)
def test_bad_task_bodies_name_the_field(
    operator: httpx.Client, body: Any, status: int, expected: str
) -> None:
    _check(operator.post("/api/v1/tasks", json=body), status, expected)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "/api/v1/tasks/x/actions", {"action": "teleport"}, "action:"),
        ("POST", "/api/v1/tasks/x/actions", {}, "action: required"),
        ("POST", "/api/v1/tasks/x/cancel", {"reason": 5}, "reason: must be a string"),
        ("POST", "/api/v1/tokens", {"name": "n", "role": "king"}, "role:"),
        ("POST", "/api/v1/tokens", {"role": "viewer"}, "name: required"),
        ("GET", "/api/v1/tasks?limit=0", None, "limit:"),
        ("GET", "/api/v1/tasks?state=nope", None, "state[0]:"),
        ("GET", "/api/v1/tasks?sort=size", None, "sort:"),
    ],
)
def test_other_bad_requests_name_the_field(
    stack: Stack, method: str, path: str, body: Any, expected: str
) -> None:
    with stack.http() as admin:
        content = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"}
        r = admin.request(method, path, content=content, headers=headers)
        _check(r, 422, expected)


def test_a_bare_list_is_a_batch(operator: httpx.Client) -> None:
    r = operator.post("/api/v1/tasks", json=[{"kind": "noop"}, {"kind": "noop"}])
    assert r.status_code == 201, r.text
    assert [t["kind"] for t in r.json()] == ["noop", "noop"]
