"""The client's chat, saved-query and alert methods against a real control plane (the chat
tests' server): DataFrames match the API's JSON, the chat socket resumes, refusals raise."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from agency.client import AgencyClient, AsyncAgencyClient
from agency.control.chat.assistant import HELP
from agency.errors import Forbidden, NotFound, QueryRefused, ValidationFailed
from agency.models import Role
from agency.testing import ADMIN, Stack, serve
from tests.api.planes import LIMITS
from tests.api.test_alerts import raise_alert


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("cp"), **LIMITS) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with stack.http(ADMIN) as c:
        yield c


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[AgencyClient]:
    with AgencyClient(stack.url, ADMIN) as c:
        yield c


def test_chat_socket_replays_after_a_dropped_connection(client: AgencyClient) -> None:
    sid = client.create_session(title="client").session_id
    with client.chat(sid) as chat:
        assert chat.ask("/help", timeout=30) == HELP
        for i in range(5):
            chat.send(f"/help {i}")
        first = chat.receive(timeout=30)
        assert first["seq"] == 3 and first["role"] == "user"
        # cut the TCP connection under the socket: no close frame, the client must resume
        assert chat._conn is not None
        chat._conn.socket.shutdown(socket.SHUT_RDWR)
        rest = [chat.receive(timeout=30) for _ in range(9)]
        assert chat.failures == 0
    seqs = [first["seq"]] + [f["seq"] for f in rest]
    assert seqs == list(range(3, 13))  # each once, in order
    assert chat.last_seq == 12


def test_messages_and_sessions_frames_match_the_json(
    client: AgencyClient, admin: httpx.Client
) -> None:
    sid = client.create_session(title="frames").session_id
    with client.chat(sid) as chat:
        chat.ask("/help")
        chat.ask("/workers")
    df = client.messages(sid)
    raw = admin.get(f"/api/v1/chat/session/{sid}/messages").json()
    assert list(df.columns) == ["session_id", "seq", "role", "content", "created_at"]
    assert df[["seq", "role", "content"]].to_dict("records") == [
        {"seq": m["seq"], "role": m["role"], "content": m["content"]} for m in raw
    ]
    assert list(df["created_at"]) == [pd.Timestamp(m["created_at"]) for m in raw]
    assert list(client.messages(sid, after=2)["seq"]) == [3, 4]
    sessions = client.sessions()
    assert sid in set(sessions["id"])
    assert sessions.set_index("id").loc[sid, "title"] == "frames"


def test_chat_refusals_are_raised(stack: Stack, client: AgencyClient) -> None:
    with pytest.raises(NotFound), client.chat("no-such-session") as chat:
        chat.receive(timeout=10)
    sid = client.create_session().session_id
    with AgencyClient(stack.url, stack.token("victor", Role.VIEWER)) as viewer:
        with pytest.raises(Forbidden), viewer.chat(sid) as chat:
            chat.receive(timeout=10)
        with pytest.raises(Forbidden):
            viewer.messages(sid)


def test_saved_queries_through_the_client(client: AgencyClient, admin: httpx.Client) -> None:
    q = client.create_query(
        "client_q",
        "SELECT i, i * $k AS scaled, 'n' || i AS label FROM range(4) t(i)",
        description="scaled",
        parameters={"k": 2},
    )
    assert q.revision == 1 and client.get_query("client_q").id == q.id
    assert client.update_query(q.id, description="scaled range").revision == 2
    assert list(client.query_revisions("client_q")["revision"]) == [1, 2]
    assert "client_q" in set(client.saved_queries()["name"])
    df = client.run_query("client_q", {"k": 10})
    raw = admin.post("/api/v1/queries/client_q/run", json={"parameters": {"k": 10}}).json()
    assert list(df.columns) == raw["columns"]
    assert df.values.tolist() == raw["rows"]
    assert df.attrs["truncated"] is False and df.attrs["run_id"]
    arrow = client.run_query("client_q", {"k": 10}, arrow=True)
    assert arrow.values.tolist() == raw["rows"] and arrow.attrs["run_id"]
    runs = client.query_runs("client_q")
    assert len(runs) == 3 and set(runs["status"]) == {"ok"} and set(runs["actor"]) == {"admin"}
    adhoc = client.query("SELECT $x AS x", {"x": "hello"})
    assert adhoc.values.tolist() == [["hello"]]
    capped = client.query("SELECT * FROM range(1000)", arrow=True)
    assert len(capped) == 100 and capped.attrs["truncated"] is True
    with pytest.raises(QueryRefused):
        client.query("DROP TABLE tasks")
    with pytest.raises(ValidationFailed):
        client.create_query("bad name", "SELECT 1")
    client.delete_query("client_q")
    with pytest.raises(NotFound):
        client.get_query("client_q")


def test_alerts_through_the_client(stack: Stack, client: AgencyClient, admin: httpx.Client) -> None:
    alert_id = raise_alert(stack, "worker_silent", "w9 went silent")
    df = client.alerts(state="open")
    raw = admin.get("/api/v1/alerts", params={"state": "open"}).json()
    assert list(df["id"]) == [a["id"] for a in raw] and alert_id in set(df["id"])
    assert client.acknowledge_alert(alert_id, reason="on it").state.value == "acknowledged"
    assert client.dismiss_alert(alert_id).updated_by == "admin"
    assert alert_id in set(client.alerts(state="dismissed")["id"])
    with pytest.raises(NotFound):
        client.dismiss_alert("no-such-alert")


async def test_async_client(stack: Stack) -> None:
    async with AsyncAgencyClient(stack.url, ADMIN) as c:
        sid = (await c.create_session(title="async")).session_id
        async with c.chat(sid) as chat:
            assert await chat.ask("/help", timeout=30) == HELP
            assert "1 row(s)" in await chat.ask("/sql SELECT 1 AS one", timeout=30)
        assert list((await c.messages(sid))["seq"]) == [1, 2, 3, 4]
        assert sid in set((await c.sessions())["id"])
        await c.create_query("async_q", "SELECT $a AS a", parameters={"a": 1})
        assert (await c.run_query("async_q")).values.tolist() == [[1]]
        assert (await c.run_query("async_q", {"a": 5}, arrow=True)).values.tolist() == [[5]]
        assert (await c.query("SELECT 2 AS b")).values.tolist() == [[2]]
        assert len(await c.query_runs("async_q")) == 2
        alert_id = raise_alert(stack, "breaker_open", "async")
        assert (await c.acknowledge_alert(alert_id)).state.value == "acknowledged"
        assert alert_id in set((await c.alerts(state="acknowledged"))["id"])
        with pytest.raises(NotFound):
            async with c.chat("missing") as chat:
                await chat.receive(timeout=10)
