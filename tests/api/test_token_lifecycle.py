"""Token expiry, last use and rotation with a grace period (issue 21, item 5)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
from typer.testing import CliRunner

from agency.cli import app
from agency.testing import ADMIN, Stack

runner = CliRunner()


def _cli(stack: Stack, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["token", *args, "--url", stack.url, "--token", ADMIN])
    return res.exit_code, res.stdout


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_expired_token_is_refused_with_its_own_code(stack: Stack, admin: httpx.Client) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    r = admin.post(
        "/api/v1/tokens", json={"name": "brief", "role": "viewer", "expires_at": soon.isoformat()}
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert r.json()["token"]["expires_at"] is not None
    with stack.http(secret) as brief:
        assert brief.get("/api/v1/tasks").status_code == 200
        time.sleep(1.6)
        late = brief.get("/api/v1/tasks")
    assert late.status_code == 401 and _code(late) == "token_expired"
    assert "expired" in late.json()["error"]["message"]
    past = datetime.now(UTC) - timedelta(minutes=1)
    r = admin.post(
        "/api/v1/tokens", json={"name": "stale", "role": "viewer", "expires_at": past.isoformat()}
    )
    assert r.status_code == 422


def test_cli_expires_and_list_shows_last_use(stack: Stack) -> None:
    code, out = _cli(
        stack, "create", "--name", "cron", "--role", "viewer", "--expires", "30d", "--json"
    )
    assert code == 0, out
    created = json.loads(out)
    expires = datetime.fromisoformat(created["token"]["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) < timedelta(days=31)
    with stack.http(created["secret"]) as cron:
        assert cron.get("/api/v1/tasks").status_code == 200
    code, out = _cli(stack, "list", "--json")
    assert code == 0, out
    row = next(t for t in json.loads(out) if t["id"] == created["token"]["id"])
    assert row["last_used_addr"] == "127.0.0.1" and row["last_used_at"]
    code, out = _cli(stack, "list")
    assert "last_used_at" in out and "127.0.0.1" in out
    code, _ = _cli(stack, "create", "--name", "x", "--role", "viewer", "--expires", "soon")
    assert code == 2


def test_rotation_keeps_the_old_secret_for_the_grace_period(stack: Stack) -> None:
    code, out = _cli(stack, "create", "--name", "ci", "--role", "operator", "--json")
    created = json.loads(out)
    token_id, old = created["token"]["id"], created["secret"]
    code, out = _cli(stack, "rotate", token_id, "--grace", "2s", "--json")
    assert code == 0, out
    rotated = json.loads(out)
    new = rotated["secret"]
    assert new != old and rotated["token"]["rotated_at"]
    with stack.http(old) as o, stack.http(new) as n:
        assert o.get("/api/v1/tasks").status_code == 200  # in the grace period
        assert n.get("/api/v1/tasks").status_code == 200
        time.sleep(2.2)
        late = o.get("/api/v1/tasks")
        assert late.status_code == 401 and _code(late) == "token_expired"
        assert "rotated" in late.json()["error"]["message"]
        assert n.get("/api/v1/tasks").status_code == 200
    # the rotation is audited; the bootstrap admin token is rotated by config, not here
    with stack.http(ADMIN) as a:
        events = a.get("/api/v1/audit", params={"action": "token.rotated"}).json()["items"]
        assert any(e["resource_id"] == token_id for e in events)
        assert a.post("/api/v1/tokens/admin/rotate", json={"grace_seconds": 1}).status_code == 409


def test_rotation_with_no_grace_ends_the_old_secret_at_once(stack: Stack) -> None:
    with stack.client() as c:
        created = c.create_token("now", "viewer")
        rotated = c.rotate_token(created.token.id, grace_seconds=0)
    with stack.http(created.secret) as o, stack.http(rotated.secret) as n:
        assert _code(o.get("/api/v1/tasks")) == "token_expired"
        assert n.get("/api/v1/tasks").status_code == 200
