"""Schedule endpoints against a real control plane (its own ticker, the real clock) and a real
worker: the views, the changes, the fires' history, roles, and every bad input as a 4xx."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from agency.testing import Stack

NOOP = {"kind": "noop", "spec": {}}


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def _locs(error: dict[str, Any]) -> list[str]:
    return [".".join(e["loc"]) for e in error["details"]["errors"]]


def _times(values: list[str]) -> list[datetime]:
    return [datetime.fromisoformat(v) for v in values]


def test_create_show_edit_pause_trigger_delete(
    operator: httpx.Client, admin: httpx.Client, viewer: httpx.Client
) -> None:
    r = operator.post(
        "/api/v1/schedules",
        json={"name": "api-hourly", "cron": "0 * * * *", "timezone": "Europe/Berlin", "task": NOOP},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["revision"] == 1 and made["created_by"] == "olga" and made["last_fire"] is None
    nxt = _times(made["next_fires"])
    assert len(nxt) == 5 and all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(nxt))
    assert nxt[0] > datetime.now(UTC) and nxt[0].minute == 0
    sid = made["id"]
    assert viewer.get(f"/api/v1/schedules/{sid}").json()["name"] == "api-hourly"
    assert viewer.get("/api/v1/schedules/api-hourly").json()["id"] == sid
    assert "api-hourly" in [s["name"] for s in viewer.get("/api/v1/schedules").json()["items"]]

    edited = operator.patch(f"/api/v1/schedules/{sid}", json={"cron": "30 * * * *"}).json()
    assert edited["revision"] == 2 and _times(edited["next_fires"])[0].minute == 30
    paused = operator.post(f"/api/v1/schedules/{sid}/pause", json={"reason": "test"}).json()
    assert paused["paused"] is True and paused["next_fires"] == []
    assert operator.post(f"/api/v1/schedules/{sid}/resume").json()["paused"] is False

    fired = operator.post(f"/api/v1/schedules/{sid}/trigger", json={"reason": "now"})
    assert fired.status_code == 201, fired.text
    fire = fired.json()
    assert fire["manual"] is True and fire["task_id"] and fire["skipped_reason"] is None
    shown = viewer.get(f"/api/v1/schedules/{sid}").json()
    assert shown["last_fire"]["task_id"] == fire["task_id"] and shown["last_fire"]["state"]
    task = viewer.get(f"/api/v1/tasks/{fire['task_id']}").json()["task"]
    assert task["labels"]["schedule"] == "api-hourly"
    assert task["idempotency_key"].startswith(f"schedule:{sid}:manual:")

    operator.post(f"/api/v1/schedules/{sid}/trigger")
    page = viewer.get(f"/api/v1/schedules/{sid}/fires", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert {"slot", "fired_at", "task_id", "state", "skipped_reason"} <= set(page["items"][0])
    rest = viewer.get(
        f"/api/v1/schedules/{sid}/fires", params={"cursor": page["next_cursor"]}
    ).json()
    assert [f["task_id"] for f in rest["items"]] == [fire["task_id"]] and not rest["next_cursor"]
    bad = viewer.get(f"/api/v1/schedules/{sid}/fires", params={"cursor": "nonsense"})
    _error(bad, 400, "invalid_cursor")

    _error(viewer.post(f"/api/v1/schedules/{sid}/pause"), 403, "forbidden")
    _error(operator.delete(f"/api/v1/schedules/{sid}"), 403, "forbidden")
    assert admin.delete(f"/api/v1/schedules/{sid}").status_code == 204
    _error(viewer.get(f"/api/v1/schedules/{sid}"), 404, "not_found")
    events = admin.get(
        "/api/v1/audit", params={"resource_type": "schedule", "resource_id": sid}
    ).json()
    actions = [e["action"] for e in events["items"]]
    for action in ("created", "edited", "paused", "resumed", "fired", "deleted"):
        assert f"schedule.{action}" in actions


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "* * * *"}, "body.cron"),
        ({"cron": "0 0 * * * * 2030"}, "body.cron"),
        ({"cron": "61 * * * *"}, "body.cron"),
        ({"timezone": "Mars/Olympus"}, "body.timezone"),
        ({"task": {"kind": "warp"}}, "body.task.kind"),
        ({"task": {"kind": "shell", "spec": {"argv": []}}}, "body.task.spec"),
        ({"task": {"kind": "noop", "priority": 5000}}, "body.task.priority"),
        ({"overlap": "sometimes"}, "body.overlap"),
        ({"catchup": "maybe"}, "body.catchup"),
        ({"jitter_seconds": -1}, "body.jitter_seconds"),
        ({"name": "has space"}, "body.name"),
        ({"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}, "body.end_at"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    operator: httpx.Client, change: dict[str, Any], field: str
) -> None:
    body = {"name": "bad", "cron": "0 * * * *", "task": NOOP, **change}
    error = _error(operator.post("/api/v1/schedules", json=body), 422, "validation_error")
    assert _locs(error) == [field]
    # the message names the field as the user wrote it (issue 14): "cron: ...", not "body.cron"
    assert (
        error["message"].startswith("invalid request: ")
        and f"{field.removeprefix('body.')}" in error["message"]
    )


def test_bad_edits_and_names_answer_4xx(operator: httpx.Client, admin: httpx.Client) -> None:
    body = {"name": "api-edits", "cron": "0 * * * *", "start_at": "2030-01-01T00:00:00Z"}
    sid = operator.post("/api/v1/schedules", json={**body, "task": NOOP}).json()["id"]
    try:
        dup = operator.post("/api/v1/schedules", json={**body, "task": NOOP})
        assert _error(dup, 409, "conflict")["details"]["field"] == "name"
        for change, field in (
            ({"cron": "every day"}, "body.cron"),
            ({"end_at": "2029-01-01T00:00:00Z"}, "body.end_at"),
            ({"task": {"kind": "noop", "bogus": 1}}, "body.task.bogus"),
            ({"paused": True}, "body.paused"),  # pause has its own endpoint
        ):
            r = operator.patch(f"/api/v1/schedules/{sid}", json=change)
            assert _locs(_error(r, 422, "validation_error")) == [field]
        assert operator.get(f"/api/v1/schedules/{sid}").json()["revision"] == 1
        _error(
            operator.patch("/api/v1/schedules/nope", json={"cron": "0 * * * *"}), 404, "not_found"
        )
    finally:
        admin.delete(f"/api/v1/schedules/{sid}")


def test_the_ticker_fires_a_per_second_schedule(stack: Stack, admin: httpx.Client) -> None:
    r = admin.post(
        "/api/v1/schedules",
        json={"name": "api-seconds", "cron": "* * * * * *", "task": NOOP, "catchup": "skip"},
    )
    sid = r.json()["id"]
    try:
        deadline = time.monotonic() + 20
        fires: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            fires = admin.get(f"/api/v1/schedules/{sid}/fires").json()["items"]
            if sum(1 for f in fires if f["task_id"]) >= 3:
                break
            time.sleep(0.2)
        fired = [f for f in fires if f["task_id"]]
        assert len(fired) >= 3, fires
        slots = _times([f["slot"] for f in fired])
        assert len(set(slots)) == len(slots) and all(s.microsecond == 0 for s in slots)
        assert all(f["lateness"] < 5 for f in fired)
        metrics = admin.get("/metrics").text
        assert 'agency_schedule_fires_total{schedule="api-seconds"}' in metrics
        assert "agency_schedule_lateness_seconds" in metrics
        admin.post(f"/api/v1/schedules/{sid}/pause")
        stack.burst()
        before = len(
            admin.get(f"/api/v1/schedules/{sid}/fires", params={"limit": 500}).json()["items"]
        )
        time.sleep(2.5)
        after = len(
            admin.get(f"/api/v1/schedules/{sid}/fires", params={"limit": 500}).json()["items"]
        )
        assert after == before  # pause stops fires
        tasks = admin.get(
            "/api/v1/tasks", params={"label": "schedule=api-seconds", "limit": 500}
        ).json()["items"]
        keys = [t["idempotency_key"] for t in tasks]
        assert len(keys) == len(set(keys)) == after
        assert {t["state"] for t in tasks} == {"succeeded"}  # the label does not block placement
    finally:
        admin.delete(f"/api/v1/schedules/{sid}")


def test_preview_lists_the_next_fires_as_the_scheduler_would(viewer: httpx.Client) -> None:
    r = viewer.post(
        "/api/v1/schedules/preview",
        json={"cron": "30  2 * * *", "timezone": "Europe/Berlin", "count": 3},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cron"] == "30 2 * * *" and body["timezone"] == "Europe/Berlin"
    fires = _times(body["next_fires"])
    assert len(fires) == 3 and fires[0] > datetime.now(UTC)
    assert all(
        timedelta(hours=23) <= b - a <= timedelta(hours=25) for a, b in itertools.pairwise(fires)
    )
    assert (
        len(viewer.post("/api/v1/schedules/preview", json={"cron": "@hourly"}).json()["next_fires"])
        == 5
    )
    for body, field in (
        ({"cron": "61 * * * *"}, "body.cron"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "body.timezone"),
        ({"cron": "* * * * *", "count": 0}, "body.count"),
        ({"cron": "* * * * *", "extra": 1}, "body.extra"),
    ):
        error = _error(viewer.post("/api/v1/schedules/preview", json=body), 422, "validation_error")
        assert _locs(error) == [field]
