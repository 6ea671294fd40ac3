"""The refusal events (issue 21, item 4): a denied token, a too-weak role, a rate-limited
caller (sampled), a refused worker registration and a refused SQL statement each become an
event with actor, source address and reason, verdict ``denied``, listed by the audit API
and ``agency audit list``."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect

from agency.cli import app
from agency.models import Role
from agency.testing import ADMIN, WORKER, Stack, serve

ADDRESS = "127.0.0.1"  # every test client connects from loopback
runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # a short sampling interval, so one test can see the count of what was left out
    with serve(tmp_path_factory.mktemp("refusals"), refusal_sample_interval=1.0) as s:
        yield s


def events(stack: Stack, action: str, **match: Any) -> list[dict[str, Any]]:
    """The events of ``action`` through GET /api/v1/audit, once queued refusals are written."""
    refusals = stack.plane.refusals
    stack.call(refusals.settle)
    with stack.http(ADMIN) as admin:
        r = admin.get("/api/v1/audit", params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return [e for e in items if all(e["details"].get(k) == v for k, v in match.items())]


def only(found: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(found) == 1, found
    event = found[0]
    assert event["verdict"] == "denied"
    assert event["details"]["address"] == ADDRESS and event["details"]["reason"]
    return event


def test_unknown_token_is_one_event_per_address_with_the_count_left_out(stack: Stack) -> None:
    with stack.http("not-a-token") as bad:
        for _ in range(5):
            assert bad.get("/api/v1/tasks").status_code == 401
    first = only(events(stack, "auth.denied", path="/api/v1/tasks"))
    assert first["actor"] == "unknown" and first["resource_id"] == "unknown"
    assert first["details"]["reason"] == "unknown token"
    assert first["details"]["code"] == "unauthorized" and first["details"]["suppressed"] == 0
    time.sleep(1.1)  # the sampling interval passes: the next refusal is written, with the count
    with stack.http("still-not-a-token") as bad:
        assert bad.get("/api/v1/workers").status_code == 401
    later = only(events(stack, "auth.denied", path="/api/v1/workers"))
    assert later["details"]["suppressed"] == 4


def test_revoked_and_expired_tokens_are_denied_with_their_name(
    stack: Stack, tmp_path: Path
) -> None:
    with stack.http(ADMIN) as admin:
        made = admin.post("/api/v1/tokens", json={"name": "gone", "role": "viewer"}).json()
        assert admin.delete(f"/api/v1/tokens/{made['token']['id']}").status_code == 200
        soon = datetime.now(UTC) + timedelta(seconds=1)
        brief = admin.post(
            "/api/v1/tokens",
            json={"name": "brief", "role": "viewer", "expires_at": soon.isoformat()},
        ).json()
    with stack.http(made["secret"]) as gone:
        assert gone.get("/api/v1/queue").status_code == 401
    revoked = only(events(stack, "auth.denied", path="/api/v1/queue"))
    assert revoked["actor"] == "gone" and revoked["resource_id"] == made["token"]["id"]
    assert revoked["details"]["reason"] == "this token was revoked"
    time.sleep(1.1)
    with stack.http(brief["secret"]) as late:
        assert late.get("/api/v1/alerts").status_code == 401
    expired = only(events(stack, "auth.denied", path="/api/v1/alerts"))
    assert expired["actor"] == "brief" and expired["details"]["code"] == "token_expired"
    assert "expired" in expired["details"]["reason"]


def test_too_weak_role_is_forbidden_event(stack: Stack) -> None:
    with stack.http(stack.token("vera", Role.VIEWER)) as viewer:
        assert viewer.get("/api/v1/tokens").status_code == 403
    event = only(events(stack, "auth.forbidden"))
    assert event["actor"] == "vera" and event["resource_type"] == "route"
    assert event["resource_id"] == "/api/v1/tokens"
    assert event["details"]["needed"] == "admin" and event["details"]["role"] == "viewer"
    assert "admin role" in event["details"]["reason"]


def test_refused_worker_registration(stack: Stack) -> None:
    evil = {
        "id": "evil",
        "url": "http://user:pw@169.254.169.254:80",
        "kinds": ["shell"],
        "capacity": 1,
    }
    with stack.http(WORKER) as worker:
        r = worker.post("/api/v1/workers/register", json=evil)
    assert r.status_code == 403 and r.json()["error"]["code"] == "host_not_allowed"
    event = only(events(stack, "worker.registration_refused"))
    assert event["actor"] == "local-workers" and event["resource_id"] == "evil"
    assert event["details"]["code"] == "host_not_allowed"
    # the audit chain keeps what it is given forever: a credential in the URL is not kept
    assert event["details"]["url"] == "http://***@169.254.169.254:80"


def test_refused_sql_over_http_and_chat(stack: Stack) -> None:
    secret = stack.token("quinn", Role.VIEWER)
    with stack.http(secret) as viewer:
        r = viewer.post("/api/v1/query", json={"sql": "DELETE FROM tasks"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "query_refused"
        saved = viewer.post("/api/v1/chat/session", json={"title": "sql"})
    adhoc = only(events(stack, "query.refused", source="adhoc"))
    assert adhoc["actor"] == "quinn" and adhoc["details"]["sql"] == "DELETE FROM tasks"
    assert "SELECT" in adhoc["details"]["reason"] and adhoc["details"]["status"] == "error"
    url = stack.url.replace("http://", "ws://") + f"/api/v1/chat/ws/{saved.json()['session_id']}"
    with connect(url, additional_headers={"Authorization": f"Bearer {secret}"}) as ws:
        ws.send(json.dumps({"content": "/sql DROP TABLE tasks"}))
        while True:
            frame = json.loads(ws.recv(timeout=30))
            if frame["type"] == "message" and frame["role"] == "assistant":
                break
    assert frame["content"].startswith("/sql failed (query_refused)")
    chat = only(events(stack, "query.refused", source="chat"))
    assert chat["actor"] == "quinn" and chat["details"]["sql"] == "DROP TABLE tasks"


def test_agency_audit_list_shows_refusals(stack: Stack) -> None:
    with stack.http("yet-another-unknown") as bad:
        assert bad.get("/api/v1/runbooks/runs").status_code == 401
    stack.call(stack.plane.refusals.settle)
    res = runner.invoke(
        app,
        ["audit", "list", "--action", "auth.", "--json", "--url", stack.url, "--token", ADMIN],
    )
    assert res.exit_code == 0, res.stdout
    rows = json.loads(res.stdout)
    denied = [r for r in rows if r["action"] == "auth.denied"]
    assert denied and all(r["verdict"] == "denied" for r in denied)
    assert {r["action"] for r in rows} >= {"auth.denied", "auth.forbidden"}


def test_rate_limit_events_are_sampled_under_a_burst(tmp_path: Path) -> None:
    interval = 2.0
    with serve(tmp_path, rate_limit=1.0, refusal_sample_interval=interval) as s:
        with s.http(s.token("bursty", Role.VIEWER)) as bursty:
            refused, started = 0, time.monotonic()
            while refused < 200:
                r = bursty.get("/api/v1/queue")
                if r.status_code == 429:
                    refused += 1
                else:
                    assert r.status_code == 200, r.text
            elapsed = time.monotonic() - started
            during = events(s, "ratelimit.refused")
            assert 1 <= len(during) <= math.ceil(elapsed / interval) + 1, (len(during), elapsed)
            time.sleep(interval + 0.1)
            while bursty.get("/api/v1/queue").status_code != 429:
                pass
            refused += 1
        found = events(s, "ratelimit.refused")
    assert len(found) == len(during) + 1
    # every refusal is accounted for: each event stands for itself and those it left out
    assert sum(1 + e["details"]["suppressed"] for e in found) == refused
    for e in found:
        assert e["actor"] == "bursty" and e["resource_type"] == "token"
        assert e["verdict"] == "denied" and e["details"]["address"] == ADDRESS
        assert e["details"]["path"] == "/api/v1/queue" and "rate limit" in e["details"]["reason"]
