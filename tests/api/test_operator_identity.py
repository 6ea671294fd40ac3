"""The operator behind a shared token (``X-Agency-Operator``): named in the actor of what the
token does, never changing what it may do; and the audit trail read newest first."""

from __future__ import annotations

import httpx
import pytest

from agency.client import AgencyClient
from agency.models import Role
from agency.testing import Stack
from tests.api.test_alerts import raise_alert

pytestmark = pytest.mark.plane("limits")  # no worker: tasks stay pending, nothing else moves


def test_the_actor_names_the_token_and_the_operator(stack: Stack, operator: httpx.Client) -> None:
    alert = raise_alert(stack, "worker_silent", "w1 missed 3 heartbeats")
    r = operator.post(
        f"/api/v1/alerts/{alert}/acknowledge",
        json={"reason": "on it"},
        headers={"X-Agency-Operator": "Dana Smith"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["updated_by"] == "olivia (Dana Smith)"
    events = operator.get(
        "/api/v1/audit", params={"action": "alert.acknowledged", "resource_id": alert}
    ).json()["items"]
    assert [(e["actor"], e["details"]["reason"]) for e in events] == [
        ("olivia (Dana Smith)", "on it")
    ]
    # the client names its operator on every request
    token = stack.token("olivia-client", Role.OPERATOR)
    with AgencyClient(stack.url, token, operator="dana") as client:
        task = client.submit("noop", {})
        assert task.created_by == "olivia-client (dana)"


def test_an_operator_name_never_lends_rights(stack: Stack, viewer: httpx.Client) -> None:
    alert = raise_alert(stack, "worker_silent", "w1 missed 3 heartbeats")
    r = viewer.post(f"/api/v1/alerts/{alert}/acknowledge", headers={"X-Agency-Operator": "admin"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_a_bad_operator_name_is_refused_naming_the_header(
    stack: Stack, operator: httpx.Client
) -> None:
    r = operator.get("/api/v1/alerts", headers={"X-Agency-Operator": "x) (admin"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and "X-Agency-Operator" in error["message"]
    assert error["details"]["field"] == "X-Agency-Operator"


def test_audit_pages_newest_first(stack: Stack, operator: httpx.Client) -> None:
    for _ in range(5):
        operator.post("/api/v1/tasks", json={"kind": "noop", "spec": {}})
    first = operator.get("/api/v1/audit", params={"order": "desc", "limit": 3}).json()
    seqs = [e["seq"] for e in first["items"]]
    assert seqs == sorted(seqs, reverse=True) and first["next_cursor"]
    newest = operator.get("/api/v1/audit", params={"limit": 1000}).json()["items"][-1]["seq"]
    assert seqs[0] == newest
    second = operator.get(
        "/api/v1/audit", params={"order": "desc", "limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [e["seq"] for e in second["items"]] == [seqs[-1] - 1, seqs[-1] - 2, seqs[-1] - 3]
    bad = operator.get("/api/v1/audit", params={"order": "sideways"})
    assert bad.status_code == 422 and "order" in bad.text
