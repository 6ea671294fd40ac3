"""Audit trail, replay, waivers, workers, /health and /metrics against a real control plane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from agency.client import AgencyClient
from agency.models import KpiSample
from agency.storage import Insert
from agency.testing import ADMIN, WORKER, Stack


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


def _done(stack: Stack, operator: httpx.Client) -> str:
    task = operator.post(
        "/api/v1/tasks", json={"kind": "shell", "spec": {"argv": ["echo", "audit"]}}
    ).json()
    with AgencyClient(stack.url, ADMIN) as c:
        assert c.wait(task["id"], 30).state.value == "succeeded"
    return str(task["id"])


def test_audit_filters_and_pages(stack: Stack, operator: httpx.Client) -> None:
    task_id = _done(stack, operator)
    page = operator.get(
        "/api/v1/audit", params={"resource_type": "task", "resource_id": task_id}
    ).json()
    actions = [e["action"] for e in page["items"]]
    assert (
        actions[0] == "task.created"
        and actions[-1] == "task.succeeded"
        and page["next_cursor"] is None
    )
    created = operator.get(
        "/api/v1/audit", params={"action": "task.created", "actor": "olga"}
    ).json()["items"]
    assert created and all(e["action"] == "task.created" and e["actor"] == "olga" for e in created)
    prefix = operator.get(
        "/api/v1/audit", params={"action": "task.", "resource_id": task_id}
    ).json()["items"]
    assert [e["seq"] for e in prefix] == [e["seq"] for e in page["items"]]
    # walk everything two at a time: contiguous, no duplicates
    seqs: list[int] = []
    cursor = None
    for _ in range(1000):
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = operator.get("/api/v1/audit", params=params).json()
        seqs += [e["seq"] for e in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seqs == list(range(1, len(seqs) + 1))
    first = page["items"][0]["ts"]
    later = operator.get("/api/v1/audit", params={"resource_id": task_id, "since": first}).json()[
        "items"
    ]
    assert later[0]["seq"] == page["items"][0]["seq"]
    before = operator.get("/api/v1/audit", params={"resource_id": task_id, "until": first}).json()[
        "items"
    ]
    assert before == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "!!!"}, 400, "invalid_cursor"),
        ({"cursor": "eyJhZnRlciI6IC0xfQ"}, 400, "invalid_cursor"),  # {"after": -1}
        ({"limit": 0}, 422, "validation_error"),
        ({"since": "noon"}, 422, "validation_error"),
    ],
)
def test_audit_bad_params(viewer: httpx.Client, params: dict, status: int, code: str) -> None:
    _error(viewer.get("/api/v1/audit", params=params), status, code)


def test_verify_and_replay(stack: Stack, operator: httpx.Client, viewer: httpx.Client) -> None:
    task_id = _done(stack, operator)
    report = viewer.get("/api/v1/audit/verify").json()
    assert report["ok"] is True and report["checked"] > 0 and report["first_bad_seq"] is None
    replay = viewer.get(f"/api/v1/tasks/{task_id}/replay").json()
    assert replay["matches"] is True and replay["differences"] == {}
    assert replay["task"]["state"] == replay["stored"]["state"] == "succeeded"
    assert replay["task"]["exit_code"] == 0


def test_waivers(stack: Stack, operator: httpx.Client, viewer: httpx.Client) -> None:
    task_id = _done(stack, operator)
    # a succeeded task without a rejected verdict has nothing to waive
    r = operator.post("/api/v1/waivers", json={"task_id": task_id, "reason": "ship it"})
    assert r.status_code in (400, 409), r.text
    _error(
        operator.post("/api/v1/waivers", json={"task_id": "nope", "reason": "x"}), 404, "not_found"
    )
    _error(operator.post("/api/v1/waivers", json={"task_id": task_id}), 422, "validation_error")
    _error(
        viewer.post("/api/v1/waivers", json={"task_id": task_id, "reason": "x"}), 403, "forbidden"
    )
    _error(
        operator.post("/api/v1/waivers/nope/decide", json={"approve": True, "reason": "x"}),
        404,
        "not_found",
    )
    assert viewer.get("/api/v1/waivers", params={"task_id": task_id}).json() == []
    _error(viewer.get("/api/v1/waivers", params={"state": "maybe"}), 422, "validation_error")


def test_workers_list_and_protocol_errors(
    stack: Stack, viewer: httpx.Client, admin: httpx.Client
) -> None:
    items = viewer.get("/api/v1/workers").json()["items"]
    w = stack.workers[0]
    mine = next(i for i in items if i["id"] == w.worker_id)
    assert mine["health"] == "healthy" and mine["breaker"] == "closed" and mine["capacity"] == 4
    assert mine["last_heartbeat"] is not None
    with stack.http(WORKER) as worker:
        hb = worker.post(
            f"/api/v1/workers/{w.worker_id}/heartbeat", json={"id": w.worker_id, "running": []}
        )
        assert hb.status_code == 200 and hb.json()["id"] == w.worker_id
        err = _error(
            worker.post("/api/v1/workers/a/heartbeat", json={"id": "b"}), 400, "bad_request"
        )
        assert err["details"] == {"path": "a", "body": "b"}
        _error(
            worker.post("/api/v1/workers/ghost/heartbeat", json={"id": "ghost"}), 404, "not_found"
        )
        _error(worker.post("/api/v1/workers/register", json={"id": "x"}), 422, "validation_error")
        evil = {"id": "evil", "url": "http://169.254.169.254:80", "kinds": ["shell"], "capacity": 1}
        _error(worker.post("/api/v1/workers/register", json=evil), 403, "host_not_allowed")
        report = {
            "worker_id": "a",
            "status": {"task_id": "t", "attempt": 1, "kind": "noop", "state": "succeeded"},
        }
        _error(worker.post("/api/v1/workers/b/reports", json=report), 400, "bad_request")


def test_drain_and_remove(stack: Stack, operator: httpx.Client, admin: httpx.Client) -> None:
    with stack.http(WORKER) as worker:
        reg = {"id": "spare", "url": "http://127.0.0.1:9", "kinds": ["noop"], "capacity": 1}
        assert worker.post("/api/v1/workers/register", json=reg).status_code == 200
    drained = operator.post("/api/v1/workers/spare/drain", json={"reason": "maintenance"})
    assert drained.status_code == 200 and drained.json()["health"] == "draining"
    _error(operator.post("/api/v1/workers/ghost/drain"), 404, "not_found")
    _error(operator.delete("/api/v1/workers/spare"), 403, "forbidden")
    removed = admin.delete("/api/v1/workers/spare", params={"reason": "gone"})
    assert removed.status_code == 200 and removed.json()["id"] == "spare"
    _error(admin.delete("/api/v1/workers/ghost"), 404, "not_found")
    events = admin.get("/api/v1/audit", params={"resource_id": "spare"}).json()["items"]
    assert {e["actor"] for e in events if e["action"] != "worker.registered"} <= {
        "olga",
        "admin",
        "system",
    }


def test_health_reports_components(stack: Stack) -> None:
    body = httpx.get(stack.url + "/health").json()
    assert set(body["components"]) == {"orchestrator", "database", "workers"}
    assert body["components"]["database"]["status"] == "healthy"
    assert body["status"] in ("healthy", "degraded")
    for comp in body["components"].values():
        if comp["status"] != "healthy":
            assert comp["reason"]


def test_metrics_exposition(viewer: httpx.Client) -> None:
    viewer.get("/api/v1/tasks")
    r = viewer.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'agency_sse_clients{stream="metrics"}' in text
        and 'agency_sse_clients{stream="events"}' in text
    )
    assert 'agency_http_requests_total{method="GET",route="/api/v1/tasks",status="200"}' in text
    assert "agency_http_request_seconds_bucket" in text
    assert "agency_tasks" in text  # the orchestrator's gauges share the registry


def test_kpi_history_endpoint_and_client_frame(stack: Stack, viewer: httpx.Client) -> None:
    base = datetime(2030, 1, 1, tzinfo=UTC)  # after any sample the running stack writes
    samples = [
        KpiSample(ts=base + timedelta(seconds=5 * i), tasks_per_min=float(i), queue_depth=i)
        for i in range(4)
    ]
    store = stack.plane.repos.store
    stack.call(
        lambda: store.write(Insert("kpi_samples", [s.model_dump(mode="python") for s in samples]))
    )
    since = (base + timedelta(seconds=5)).isoformat()
    rows = viewer.get("/api/v1/kpis/history", params={"since": since, "limit": 2}).json()
    # the most recent two from `since` on, oldest first
    assert [r["tasks_per_min"] for r in rows] == [2.0, 3.0]
    everything = viewer.get("/api/v1/kpis/history", params={"since": since}).json()
    assert [r["queue_depth"] for r in everything] == [1, 2, 3]
    _error(viewer.get("/api/v1/kpis/history", params={"limit": 0}), 422, "validation_error")
    with AgencyClient(stack.url, ADMIN) as c:
        df = c.kpi_history(since=base + timedelta(seconds=5))
    assert list(df["queue_depth"]) == [1, 2, 3]
    assert list(df.columns) == list(KpiSample.model_fields)
