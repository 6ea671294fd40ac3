"""Alerts: listing with filters, acknowledge and dismiss with their events and conflicts."""

from __future__ import annotations

import httpx
import pytest

from agency.models import Alert, AlertState, new_id
from agency.storage import Insert
from agency.testing import Stack

pytestmark = pytest.mark.plane("limits")  # no worker, small limits: tests/api/planes.py


def raise_alert(stack: Stack, kind: str, message: str) -> str:
    """Write an alert row the way the orchestrator does (through the real store)."""
    alert = Alert(id=new_id(), kind=kind, message=message, resource_type="worker", resource_id="w1")
    stack.call(
        lambda: stack.plane.repos.store.write(Insert("alerts", [alert.model_dump(mode="python")]))
    )
    return alert.id


def test_list_acknowledge_dismiss(
    stack: Stack, viewer: httpx.Client, operator: httpx.Client
) -> None:
    a = raise_alert(stack, "breaker_open", "breaker of w1 opened")
    b = raise_alert(stack, "worker_silent", "w1 missed 3 heartbeats")
    listed = viewer.get("/api/v1/alerts").json()
    ids = [x["id"] for x in listed]
    assert ids.index(b) < ids.index(a)  # newest first
    assert {x["state"] for x in listed if x["id"] in (a, b)} == {"open"}
    r = operator.post(f"/api/v1/alerts/{a}/acknowledge", json={"reason": "looking"})
    assert r.status_code == 200
    assert r.json()["state"] == "acknowledged" and r.json()["updated_by"] == "olivia"
    again = operator.post(f"/api/v1/alerts/{a}/acknowledge")
    assert (
        again.status_code == 200 and again.json()["updated_at"] == r.json()["updated_at"]
    )  # no-op
    assert [
        x["id"] for x in viewer.get("/api/v1/alerts", params={"state": "acknowledged"}).json()
    ] == [a]
    assert b in [x["id"] for x in viewer.get("/api/v1/alerts", params={"state": "open"}).json()]
    assert [
        x["id"] for x in viewer.get("/api/v1/alerts", params={"kind": "worker_silent"}).json()
    ] == [b]
    assert operator.post(f"/api/v1/alerts/{a}/dismiss").json()["state"] == "dismissed"
    assert operator.post(f"/api/v1/alerts/{b}/dismiss").json()["state"] == "dismissed"  # from open
    r = operator.post(f"/api/v1/alerts/{a}/acknowledge")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    events = stack.call(
        lambda: stack.plane.repos.store.fetch(
            "SELECT action, actor, details FROM events WHERE resource_type = 'alert' AND resource_id = $id ORDER BY seq",
            {"id": a},
        )
    )
    assert [(e["action"], e["actor"]) for e in events] == [
        ("alert.acknowledged", "olivia"),
        ("alert.dismissed", "olivia"),
    ]
    assert events[0]["details"]["reason"] == "looking"
    stored = stack.call(
        lambda: stack.plane.repos.store.fetch("SELECT state FROM alerts WHERE id = $id", {"id": a})
    )
    assert AlertState(stored[0]["state"]) is AlertState.DISMISSED


def test_error_cases(stack: Stack, viewer: httpx.Client, operator: httpx.Client) -> None:
    a = raise_alert(stack, "failure_rate", "55% of tasks failed")
    r = viewer.post(f"/api/v1/alerts/{a}/acknowledge")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    with stack.http(None) as anon:
        assert anon.get("/api/v1/alerts").status_code == 401
        assert anon.post(f"/api/v1/alerts/{a}/dismiss").status_code == 401
    for verb in ("acknowledge", "dismiss"):
        r = operator.post(f"/api/v1/alerts/no-such/{verb}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert viewer.get("/api/v1/alerts", params={"state": "bogus"}).status_code == 422
    assert viewer.get("/api/v1/alerts", params={"limit": 0}).status_code == 422
    r = operator.post(f"/api/v1/alerts/{a}/dismiss", json={"reason": "x", "extra": 1})
    assert r.status_code == 422
    r = operator.post(f"/api/v1/alerts/{a}/dismiss", json={"reason": "x" * 2500})
    assert r.status_code == 422
