"""Saved queries: CRUD with revisions, parameter binding, recorded runs, JSON and Arrow results."""

from __future__ import annotations

import httpx
import pyarrow as pa
import pytest

from agency.testing import Stack

pytestmark = pytest.mark.plane("limits")  # no worker, small limits: tests/api/planes.py

ARROW = "application/vnd.apache.arrow.stream"


def save(client: httpx.Client, name: str, sql: str, **extra: object) -> dict[str, object]:
    r = client.post("/api/v1/queries", json={"name": name, "sql": sql, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_create_get_update_revisions(operator: httpx.Client, viewer: httpx.Client) -> None:
    q = save(
        operator,
        "squares",
        "SELECT i, i * i AS sq FROM range($n) t(i)",
        description="squares",
        parameters={"n": 3},
    )
    assert q["revision"] == 1 and q["created_by"] == "olivia"
    assert viewer.get(f"/api/v1/queries/{q['id']}").json() == q
    assert viewer.get("/api/v1/queries/squares").json()["id"] == q["id"]  # by name too
    assert "squares" in [x["name"] for x in viewer.get("/api/v1/queries").json()]
    r = operator.patch("/api/v1/queries/squares", json={"sql": "SELECT i FROM range($n) t(i)"})
    assert r.status_code == 200 and r.json()["revision"] == 2
    r = operator.patch(
        f"/api/v1/queries/{q['id']}", json={"description": "only i", "parameters": {"n": 2}}
    )
    assert r.json()["revision"] == 3 and r.json()["sql"] == "SELECT i FROM range($n) t(i)"
    revs = viewer.get("/api/v1/queries/squares/revisions").json()
    assert [r["revision"] for r in revs] == [1, 2, 3]
    assert revs[0]["sql"] == "SELECT i, i * i AS sq FROM range($n) t(i)"
    assert revs[2]["description"] == "only i" and revs[2]["parameters"] == {"n": 2}
    assert {r["created_by"] for r in revs} == {"olivia"}


def test_run_binds_parameters_and_records_runs(
    operator: httpx.Client, viewer: httpx.Client, stack: Stack
) -> None:
    q = save(
        operator,
        "by_kind",
        "SELECT $kind AS kind, length($kind) AS n",
        parameters={"kind": "shell"},
    )
    r = viewer.post(f"/api/v1/queries/{q['id']}/run")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["kind", "n"] and body["rows"] == [["shell", 5]]
    assert body["truncated"] is False and body["duration_ms"] >= 0 and body["run_id"]
    # a hostile value stays a value: bound, never interpolated
    evil = "x'; DROP TABLE tasks; --"
    r = viewer.post("/api/v1/queries/by_kind/run", json={"parameters": {"kind": evil}})
    assert r.json()["rows"] == [[evil, len(evil)]]
    assert stack.call(lambda: stack.plane.repos.store.fetch("SELECT count(*) AS n FROM tasks"))
    # a run that fails is recorded too, and answered 400
    r = viewer.post("/api/v1/queries/by_kind/run", json={"parameters": {"kind": "a", "extra": 1}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "query_failed"
    runs = viewer.get("/api/v1/queries/by_kind/runs").json()
    assert [x["status"] for x in runs] == ["error", "ok", "ok"]
    assert all(
        x["actor"] == "victor" and x["query_id"] == q["id"] and x["revision"] == 1 for x in runs
    )
    assert [x["rows"] for x in runs] == [0, 1, 1]
    assert "query_failed" in runs[0]["error"]
    assert len(viewer.get("/api/v1/queries/by_kind/runs", params={"limit": 1}).json()) == 1


def test_arrow_results_decode_to_the_json_rows(
    viewer: httpx.Client, operator: httpx.Client
) -> None:
    save(
        operator,
        "mixed",
        "SELECT i, i / 2 AS half, 'r' || i AS label, i % 2 = 0 AS even FROM range(5) t(i)",
    )
    as_json = viewer.post("/api/v1/queries/mixed/run").json()
    r = viewer.post("/api/v1/queries/mixed/run", headers={"Accept": ARROW})
    assert r.status_code == 200 and r.headers["content-type"] == ARROW
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.column_names == as_json["columns"]
    assert [list(row.values()) for row in table.to_pylist()] == as_json["rows"]
    assert table.schema.metadata[b"agency.truncated"] == b"false"
    assert r.headers["x-agency-run-id"]


def test_adhoc_query_json_arrow_cap_and_refusals(viewer: httpx.Client, stack: Stack) -> None:
    r = viewer.post("/api/v1/query", json={"sql": "SELECT $a + 1 AS b", "parameters": {"a": 41}})
    assert r.json()["rows"] == [[42]]
    r = viewer.post("/api/v1/query", json={"sql": "SELECT * FROM range(500)"})
    body = r.json()
    assert body["truncated"] is True and len(body["rows"]) == 100  # the row cap of the fixture
    r = viewer.post(
        "/api/v1/query", json={"sql": "SELECT * FROM range(500)"}, headers={"Accept": ARROW}
    )
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.num_rows == 100 and table.schema.metadata[b"agency.truncated"] == b"true"
    for sql in (
        "DELETE FROM tasks",
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY tasks TO '/tmp/x.csv'",
        "ATTACH '/tmp/other.db'",
        "SELECT 1; SELECT 2",
    ):
        r = viewer.post("/api/v1/query", json={"sql": sql})
        assert r.status_code == 400, sql
        assert r.json()["error"]["code"] in ("query_refused", "query_failed"), (sql, r.text)
    r = viewer.post("/api/v1/query", json={"sql": "SELECT count(*) FROM range(100000000000) a"})
    assert r.status_code == 408 and r.json()["error"]["code"] == "query_timeout"
    runs = stack.call(
        lambda: stack.plane.repos.store.fetch(
            "SELECT status, error FROM query_runs WHERE query_id IS NULL AND actor = 'victor'"
        )
    )
    assert any(r["error"] and "query_timeout" in r["error"] for r in runs)


def test_roles_and_error_cases(
    stack: Stack, admin: httpx.Client, operator: httpx.Client, viewer: httpx.Client
) -> None:
    save(operator, "doomed", "SELECT 1 AS one")
    r = viewer.post("/api/v1/queries", json={"name": "nope", "sql": "SELECT 1"})
    assert r.status_code == 403
    assert viewer.patch("/api/v1/queries/doomed", json={"description": "x"}).status_code == 403
    r = operator.delete("/api/v1/queries/doomed")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    with stack.http(None) as anon:
        assert anon.get("/api/v1/queries").status_code == 401
        assert anon.post("/api/v1/query", json={"sql": "SELECT 1"}).status_code == 401
    r = operator.post("/api/v1/queries", json={"name": "doomed", "sql": "SELECT 2"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    save(operator, "other", "SELECT 3")
    assert operator.patch("/api/v1/queries/other", json={"name": "doomed"}).status_code == 409
    r = operator.post("/api/v1/queries", json={"name": "writes", "sql": "DROP TABLE tasks"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "query_refused"
    assert (
        operator.patch("/api/v1/queries/other", json={"sql": "DELETE FROM tasks"}).status_code
        == 400
    )
    for bad in (
        {"name": "has space", "sql": "SELECT 1"},
        {"name": "x", "sql": ""},
        {"sql": "SELECT 1"},
        {"name": "x", "sql": "SELECT 1", "surprise": True},
        {"name": 5, "sql": "SELECT 1"},
    ):
        r = operator.post("/api/v1/queries", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "validation_error"
    assert operator.post("/api/v1/queries/other/run", json={"params": {}}).status_code == 422
    for path in (
        "/api/v1/queries/missing",
        "/api/v1/queries/missing/revisions",
        "/api/v1/queries/missing/runs",
    ):
        r = viewer.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    assert viewer.post("/api/v1/queries/missing/run").status_code == 404
    assert operator.patch("/api/v1/queries/missing", json={"description": "x"}).status_code == 404
    assert admin.delete("/api/v1/queries/missing").status_code == 404
    assert admin.delete("/api/v1/queries/doomed").status_code == 204
    assert viewer.get("/api/v1/queries/doomed").status_code == 404
    events = stack.call(
        lambda: stack.plane.repos.store.fetch(
            "SELECT action, actor FROM events WHERE resource_type = 'query' AND action LIKE 'query.%ed' ORDER BY seq"
        )
    )
    assert {"actor": "admin", "action": "query.deleted"} in events
    assert {"actor": "olivia", "action": "query.created"} in events


@pytest.mark.parametrize("limit", [0, 5000])
def test_runs_limit_bounds(viewer: httpx.Client, limit: int) -> None:
    assert viewer.get("/api/v1/queries/anything/runs", params={"limit": limit}).status_code == 422
