"""Chat sessions and messages over HTTP: ownership, paging and error cases."""

from __future__ import annotations

import httpx
import pytest

from agency.testing import Stack
from tests.api.test_chat_ws import exchange, new_session, open_ws

pytestmark = pytest.mark.plane("limits")  # no worker, small limits: tests/api/planes.py


def test_create_list_and_read_sessions(
    stack: Stack, admin: httpx.Client, viewer: httpx.Client, operator: httpx.Client
) -> None:
    mine = new_session(viewer, "viewer's")
    theirs = new_session(operator, "operator's")
    listed = viewer.get("/api/v1/chat/sessions").json()
    assert [s["id"] for s in listed] == [mine]
    assert listed[0]["owner"] == "victor" and listed[0]["title"] == "viewer's"
    # admins see everyone's, or one owner's
    every = {s["id"] for s in admin.get("/api/v1/chat/sessions").json()}
    assert {mine, theirs} <= every
    only = admin.get("/api/v1/chat/sessions", params={"owner": "olivia"}).json()
    assert {s["owner"] for s in only} == {"olivia"} and theirs in {s["id"] for s in only}
    # others' sessions and their messages are closed to non-admins
    r = viewer.get("/api/v1/chat/sessions", params={"owner": "olivia"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = viewer.get(f"/api/v1/chat/session/{theirs}/messages")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert admin.get(f"/api/v1/chat/session/{theirs}/messages").status_code == 200


def test_messages_after_and_limit(stack: Stack, admin: httpx.Client) -> None:
    sid = new_session(admin)
    with open_ws(stack, sid) as ws:
        for i in range(3):
            exchange(ws, f"/help {i}")
    all_msgs = admin.get(f"/api/v1/chat/session/{sid}/messages").json()
    assert [m["seq"] for m in all_msgs] == [1, 2, 3, 4, 5, 6]
    assert set(all_msgs[0]) == {"session_id", "seq", "role", "content", "created_at"}
    later = admin.get(f"/api/v1/chat/session/{sid}/messages", params={"after": 4}).json()
    assert [m["seq"] for m in later] == [5, 6]
    page = admin.get(f"/api/v1/chat/session/{sid}/messages", params={"after": 1, "limit": 2}).json()
    assert [m["seq"] for m in page] == [2, 3]


def test_error_cases(stack: Stack, admin: httpx.Client) -> None:
    with stack.http(None) as anon:
        r = anon.post("/api/v1/chat/session", json={})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert anon.get("/api/v1/chat/sessions").status_code == 401
    r = admin.get("/api/v1/chat/session/no-such/messages")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    sid = new_session(admin)
    for params in ({"after": -1}, {"after": "x"}, {"limit": 0}, {"limit": 100_000}):
        r = admin.get(f"/api/v1/chat/session/{sid}/messages", params=params)
        assert r.status_code == 422, params
        assert r.json()["error"]["code"] == "validation_error"
    r = admin.post("/api/v1/chat/session", json={"title": "x", "unknown": 1})
    assert r.status_code == 422
    r = admin.post("/api/v1/chat/session", json={"title": "x" * 500})
    assert r.status_code == 422
    r = admin.post(
        "/api/v1/chat/session", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    # no body at all is fine: an untitled session
    r = admin.post("/api/v1/chat/session")
    assert r.status_code == 201 and r.json()["title"] == ""
