"""The chat WebSocket: durable echo, replay on reconnect, per-session sequence numbers, bad input."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from agency.models import Role
from agency.testing import ADMIN, Stack

pytestmark = pytest.mark.plane("limits")  # no worker, small limits: tests/api/planes.py

RECV_TIMEOUT = 20.0


def open_ws(
    stack: Stack,
    session_id: str,
    token: str | None = ADMIN,
    after: int | None = None,
    header: bool = True,
) -> ClientConnection:
    url = f"{stack.ws_url}/api/v1/chat/ws/{session_id}"
    query = []
    if after is not None:
        query.append(f"after={after}")
    if token and not header:
        query.append(f"token={token}")
    if query:
        url += "?" + "&".join(query)
    headers = {"Authorization": f"Bearer {token}"} if token and header else None
    return connect(url, additional_headers=headers, proxy=None, open_timeout=10, max_size=None)


def recv(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(ws.recv(timeout=RECV_TIMEOUT))
    assert isinstance(frame, dict)
    return frame


def exchange(ws: ClientConnection, content: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send one message; return its echo and the assistant's final reply."""
    ws.send(json.dumps({"content": content}))
    echo = recv(ws)
    assert echo["type"] == "message" and echo["role"] == "user" and echo["content"] == content
    while True:
        frame = recv(ws)
        if frame["type"] == "message":
            assert frame["role"] == "assistant" and frame["seq"] == echo["seq"] + 1
            return echo, frame


def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it sent."""
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(50):
            ws.recv(timeout=RECV_TIMEOUT)
    rcvd = info.value.rcvd
    assert rcvd is not None, "the server dropped the connection without a close frame"
    return rcvd.code, rcvd.reason


def new_session(client: httpx.Client, title: str = "") -> str:
    r = client.post("/api/v1/chat/session", json={"title": title})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"session_id", "created_at"}
    return str(body["session_id"])


def test_five_messages_drop_reconnect_replays_each_once(stack: Stack, admin: httpx.Client) -> None:
    sid = new_session(admin, "replay")
    seen: list[int] = []
    with open_ws(stack, sid) as ws:
        for i in range(5):
            ws.send(json.dumps({"content": f"/help {i}"}))
        # read only the first two echoes+replies, then drop the socket mid-conversation
        for _ in range(4):
            seen.append(recv(ws)["seq"])
    last = max(seen)
    assert seen == [1, 2, 3, 4]
    with open_ws(stack, sid, after=last) as ws:
        rest = [recv(ws) for _ in range(10 - last)]
    assert [f["seq"] for f in rest] == list(range(last + 1, 11))
    # the full history: 5 user messages and 5 replies, each exactly once, in order
    msgs = admin.get(f"/api/v1/chat/session/{sid}/messages").json()
    assert [m["seq"] for m in msgs] == list(range(1, 11))
    users = [m["content"] for m in msgs if m["role"] == "user"]
    assert users == [f"/help {i}" for i in range(5)]
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 5
    # a full replay from zero gives the same 10 frames
    with open_ws(stack, sid, after=0) as ws:
        replay = [recv(ws) for _ in range(10)]
    assert [(f["seq"], f["content"]) for f in replay] == [(m["seq"], m["content"]) for m in msgs]


def test_two_sockets_on_one_session_get_unique_sequence_numbers(
    stack: Stack, admin: httpx.Client
) -> None:
    sid = new_session(admin)
    errors: list[BaseException] = []

    def talk(tag: str) -> None:
        try:
            with open_ws(stack, sid) as ws:
                for i in range(4):
                    ws.send(json.dumps({"content": f"/help {tag}{i}"}))
                mine: set[int] = set()
                replies = 0
                while replies < 4:  # both sockets see every message; wait for our own replies
                    frame = recv(ws)
                    if frame["role"] == "user" and frame["content"].startswith(f"/help {tag}"):
                        mine.add(frame["seq"])
                    elif frame["role"] == "assistant" and frame["seq"] - 1 in mine:
                        replies += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=talk, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    msgs = admin.get(f"/api/v1/chat/session/{sid}/messages").json()
    assert [m["seq"] for m in msgs] == list(range(1, 17))
    # every user message is followed directly by its own reply (serialized per session)
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 8


def test_messages_are_audit_events(stack: Stack, admin: httpx.Client) -> None:
    sid = new_session(admin)
    with open_ws(stack, sid, token=ADMIN, header=False) as ws:
        exchange(ws, "/help")
    rows = stack.call(
        lambda: stack.plane.repos.store.fetch(
            "SELECT actor, details FROM events WHERE action = 'chat.message' AND resource_id = $sid ORDER BY seq",
            {"sid": sid},
        )
    )
    assert [r["actor"] for r in rows] == ["admin", "assistant"]
    assert rows[0]["details"]["seq"] == 1 and rows[0]["details"]["content"] == "/help"
    assert rows[1]["details"]["on_behalf_of"] == "admin"


@pytest.mark.parametrize(
    ("payload", "code", "error"),
    [
        ("not json", 1007, "bad_request"),
        (json.dumps({"text": "no content"}), 1008, "validation_error"),
        (json.dumps({"content": 42}), 1008, "validation_error"),
        (json.dumps({"content": "   "}), 1008, "validation_error"),
        (json.dumps(["content"]), 1008, "validation_error"),
        (json.dumps({"content": "x" * 5000}), 1009, "payload_too_large"),
    ],
)
def test_bad_messages_get_an_error_frame_and_a_close_code(
    stack: Stack, admin: httpx.Client, payload: str, code: int, error: str
) -> None:
    sid = new_session(admin)
    with open_ws(stack, sid) as ws:
        ws.send(payload)
        frame = recv(ws)
        assert frame["type"] == "error" and frame["error"]["code"] == error
        got, reason = closed_with(ws)
    assert got == code and reason
    # nothing was stored for the refused message
    assert admin.get(f"/api/v1/chat/session/{sid}/messages").json() == []


def test_binary_frame_is_refused(stack: Stack, admin: httpx.Client) -> None:
    sid = new_session(admin)
    with open_ws(stack, sid) as ws:
        ws.send(b'{"content": "hi"}')
        assert recv(ws)["type"] == "error"
        assert closed_with(ws)[0] == 1003


def test_connection_refusals_carry_close_codes(stack: Stack, admin: httpx.Client) -> None:
    sid = new_session(admin)
    cases: list[tuple[str, str | None, int | None, bool, int]] = [
        ("nope-no-such-session", ADMIN, None, True, 4404),
        (sid, None, None, True, 4401),
        (sid, "wrong-token", None, True, 4401),
        (sid, "wrong-token", None, False, 4401),
        (sid, stack.token("victor", Role.VIEWER), None, True, 4403),  # not the owner
        (sid, ADMIN, -1, True, 1008),
    ]
    for session_id, token, after, header, code in cases:
        with open_ws(stack, session_id, token=token, after=after, header=header) as ws:
            got, reason = closed_with(ws)
        assert (session_id, got) == (session_id, code), reason
        assert reason


def test_after_that_is_not_a_number_is_refused(stack: Stack, admin: httpx.Client) -> None:
    sid = new_session(admin)
    url = f"{stack.ws_url}/api/v1/chat/ws/{sid}?after=abc&token={ADMIN}"
    with connect(url, proxy=None) as ws:
        assert closed_with(ws)[0] == 1008
