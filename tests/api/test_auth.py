"""Bearer tokens and roles: 401 without a (live) token, 403 with a too-weak one, the token
API, the admin token file, the rate limit and the loopback rule."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from agency.api.app import create_app
from agency.control.ratelimit import RateLimiter
from agency.control.token_secrets import read_or_create_admin_secret
from agency.errors import ConfigError, RateLimited
from agency.models import Role
from agency.settings import Settings
from agency.testing import Stack, serve

SHELL = {"kind": "shell", "spec": {"argv": ["true"]}}

READS = [
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/workers"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/queue"),
]


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    ("method", "path"), [*READS, ("POST", "/api/v1/tasks"), ("GET", "/api/v1/tokens")]
)
def test_no_token_is_401(stack: Stack, method: str, path: str) -> None:
    with stack.http(None) as anon:
        _error(
            anon.request(method, path, json=SHELL if method == "POST" else None),
            401,
            "unauthorized",
        )


def test_unknown_and_malformed_tokens_are_401(stack: Stack) -> None:
    with stack.http("not-a-token") as bad:
        _error(bad.get("/api/v1/tasks"), 401, "unauthorized")
    r = httpx.get(stack.url + "/api/v1/tasks", headers={"Authorization": "Basic abc"})
    _error(r, 401, "unauthorized")


def test_health_is_public(stack: Stack) -> None:
    with stack.http(None) as anon:
        assert anon.get("/health").status_code == 200


@pytest.mark.parametrize(("method", "path"), READS)
def test_viewer_reads(viewer: httpx.Client, method: str, path: str) -> None:
    assert viewer.request(method, path).status_code == 200


def test_viewer_cannot_change(viewer: httpx.Client) -> None:
    err = _error(viewer.post("/api/v1/tasks", json=SHELL), 403, "forbidden")
    assert err["details"] == {"needed": "operator", "role": "viewer"}
    _error(viewer.post("/api/v1/queue/pause", json={}), 403, "forbidden")
    _error(viewer.post("/api/v1/tasks/bulk-cancel", json={"dry_run": True}), 403, "forbidden")


def test_operator_changes_but_cannot_manage_tokens_or_delete(operator: httpx.Client) -> None:
    assert operator.post("/api/v1/tasks", json=SHELL).status_code == 201
    _error(operator.get("/api/v1/tokens"), 403, "forbidden")
    _error(operator.post("/api/v1/tokens", json={"name": "x", "role": "admin"}), 403, "forbidden")
    _error(operator.delete("/api/v1/workers/any"), 403, "forbidden")


def test_worker_token_speaks_the_protocol_only(stack: Stack) -> None:
    with stack.http(stack.settings.worker_token) as worker:
        _error(worker.get("/api/v1/tasks"), 403, "forbidden")
        _error(worker.post("/api/v1/tasks", json=SHELL), 403, "forbidden")
    with stack.http(stack.token("opal", Role.OPERATOR)) as op:
        reg = {"id": "w-x", "url": "http://127.0.0.1:1", "kinds": ["noop"], "capacity": 1}
        _error(op.post("/api/v1/workers/register", json=reg), 403, "forbidden")


def test_actor_is_the_token_name(stack: Stack, operator: httpx.Client) -> None:
    task = operator.post("/api/v1/tasks", json=SHELL).json()
    assert task["created_by"] == "olga"
    with stack.http() as admin:
        events = admin.get(
            "/api/v1/audit", params={"resource_id": task["id"], "action": "task.created"}
        ).json()
    assert [e["actor"] for e in events["items"]] == ["olga"]


def test_token_lifecycle(stack: Stack, admin: httpx.Client) -> None:
    created = admin.post("/api/v1/tokens", json={"name": "ci-bot", "role": "viewer"})
    assert created.status_code == 201
    body = created.json()
    secret, token_id = body["secret"], body["token"]["id"]
    assert "token_hash" not in body["token"] and body["token"]["created_by"] == "admin"
    listed = admin.get("/api/v1/tokens").json()
    assert any(t["id"] == token_id and t["role"] == "viewer" for t in listed)
    assert all("token_hash" not in t and "secret" not in t for t in listed)
    with stack.http(secret) as bot:
        assert bot.get("/api/v1/whoami").json() == {
            "name": "ci-bot",
            "role": "viewer",
            "token_id": token_id,
        }
        # the same name twice while active is refused
        _error(
            admin.post("/api/v1/tokens", json={"name": "ci-bot", "role": "viewer"}), 409, "conflict"
        )
        revoked = admin.delete(f"/api/v1/tokens/{token_id}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        _error(bot.get("/api/v1/tasks"), 401, "unauthorized")
    assert admin.delete(f"/api/v1/tokens/{token_id}").status_code == 200  # idempotent
    _error(admin.delete("/api/v1/tokens/nope"), 404, "not_found")
    _error(admin.delete("/api/v1/tokens/admin"), 409, "conflict")
    _error(admin.post("/api/v1/tokens", json={"name": "x", "role": "god"}), 422, "validation_error")
    _error(
        admin.post("/api/v1/tokens", json={"name": "has space", "role": "viewer"}),
        422,
        "validation_error",
    )
    tokens = admin.get("/api/v1/audit", params={"resource_type": "token", "actor": "admin"}).json()[
        "items"
    ]
    assert {"token.created", "token.revoked"} <= {e["action"] for e in tokens}


def test_tokens_are_stored_hashed(stack: Stack, admin: httpx.Client) -> None:
    secret = admin.post("/api/v1/tokens", json={"name": "hashcheck", "role": "viewer"}).json()[
        "secret"
    ]
    rows = stack.call(lambda: stack.plane.repos.store.fetch("SELECT * FROM api_tokens"))
    flat = repr(rows)
    assert secret not in flat and stack.settings.admin_token not in flat
    assert all(len(r["token_hash"]) == 64 for r in rows)


def test_generated_admin_token_file_is_private_and_reused(tmp_path: Path) -> None:
    settings = Settings.load(env={}, data_dir=tmp_path)
    first = read_or_create_admin_secret(settings)
    path = tmp_path / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_admin_secret(settings) == first
    assert read_or_create_admin_secret(settings.model_copy(update={"admin_token": "env"})) == "env"


def test_generated_admin_token_works(tmp_path: Path) -> None:
    with serve(tmp_path, admin_token=None) as s:
        secret = (tmp_path / "admin.token").read_text().strip()
        with s.http(secret) as admin:
            assert admin.get("/api/v1/whoami").json()["role"] == "admin"


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with serve(tmp_path, rate_limit=2.0) as s, s.http() as admin:
        answers = [admin.get("/api/v1/queue") for _ in range(8)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited, [r.status_code for r in answers]
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].json()["error"]["code"] == "rate_limited"
        # another token has its own bucket
        with s.http(s.token("other", Role.VIEWER)) as other:
            assert other.get("/api/v1/queue").status_code == 200


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(10.0, clock=lambda: now[0])
    for _ in range(20):  # burst of twice the rate
        limiter.charge("t")
    with pytest.raises(RateLimited) as info:
        limiter.charge("t")
    assert 0 < info.value.retry_after <= 0.1
    now[0] += 0.1
    limiter.charge("t")


def test_no_auth_beyond_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refusing"):
        create_app(Settings.load(env={}, data_dir=tmp_path, host="0.0.0.0", auth=False))
    create_app(Settings.load(env={}, data_dir=tmp_path, host="127.0.0.1", auth=False))
    create_app(Settings.load(env={}, data_dir=tmp_path, host="0.0.0.0"))
