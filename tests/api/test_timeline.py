"""``GET /api/v1/workers/timeline`` against a real control plane and a real worker: ended
attempts with their outcome, in-flight ones with no end, the window and limit, bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agency.client import AgencyClient
from agency.testing import ADMIN, Stack, wait_for

URL = "/api/v1/workers/timeline"


def _submit(http: httpx.Client, script: str, **extra: object) -> str:
    r = http.post(
        "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["sh", "-c", script]}, **extra}
    )
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def _bars(http: httpx.Client, **params: object) -> dict:
    r = http.get(URL, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_ended_and_in_flight_attempts_on_their_worker(
    stack: Stack, operator: httpx.Client, viewer: httpx.Client
) -> None:
    failing = _submit(operator, "exit 4", retry={"max_attempts": 2, "backoff": 0})
    with AgencyClient(stack.url, ADMIN) as c:
        # polled: ``wait`` may return at attempt 1's ``task.failed`` event, before the retry
        wait_for(lambda: c.task(failing).task.state.value == "failed", 30, "the retried task")
    slow = _submit(operator, "sleep 30")
    mine = lambda body: [b for b in body["items"] if b["task_id"] in (failing, slow)]  # noqa: E731
    body = wait_for(
        lambda: (b := _bars(viewer)) and len(mine(b)) == 3 and b, 30, "the slow task in flight"
    )
    bars = mine(body)
    ended = [b for b in bars if b["task_id"] == failing]
    assert [b["attempt"] for b in ended] == [1, 2]
    assert {b["state"] for b in ended} == {"failed"} and all(b["finished_at"] for b in ended)
    assert ended[0]["command"] == "sh -c 'exit 4'" and ended[0]["kind"] == "shell"
    (live,) = [b for b in bars if b["task_id"] == slow]
    assert live["finished_at"] is None and live["state"] in ("dispatched", "running")
    worker = stack.workers[0].worker_id
    assert {b["worker_id"] for b in bars} == {worker}
    starts = [b["started_at"] for b in body["items"]]
    assert starts == sorted(starts), "oldest first"
    since, until = (datetime.fromisoformat(body[k]) for k in ("since", "until"))
    assert until - since == timedelta(minutes=15), "the default window"
    # a window before everything holds nothing; limit=1 keeps the newest (the slow one)
    old = datetime.now(UTC) - timedelta(days=1)
    assert (
        _bars(viewer, since=old.isoformat(), until=(old + timedelta(hours=1)).isoformat())["items"]
        == []
    )
    one = _bars(viewer, limit=1)
    assert one["truncated"] and [b["task_id"] for b in one["items"]] == [slow]
    operator.post(f"/api/v1/tasks/{slow}/cancel", json={"reason": "test done"})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "since"),
        ({"since": "2030-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2030-01-01T00:00:00"}, "until"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    viewer: httpx.Client, params: dict[str, object], field: str
) -> None:
    r = viewer.get(URL, params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert re.search(rf"(^|[ .]){field}: ", error["message"]), error
    details = error["details"]
    named = details.get("field") or details["errors"][0]["field"]
    assert named.split(".")[-1] == field, error
    assert "pydantic" not in r.text.lower()


def test_needs_a_token(stack: Stack) -> None:
    assert httpx.get(stack.url + URL).status_code == 401
