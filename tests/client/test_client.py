"""AgencyClient (sync and async) against a real control plane and worker: models and
DataFrames equal to the API's JSON, errors raised as agency's classes, streams that resume."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from agency.client import AgencyClient, AsyncAgencyClient
from agency.client.settings import ClientSettings, resolve
from agency.client.wire import Call
from agency.errors import (
    Forbidden,
    InvalidCursor,
    InvalidSpec,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from agency.models import Role, TaskState
from agency.testing import ADMIN, Stack, free_port, serve


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("client"), workers=1) as s:
        yield s


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[AgencyClient]:
    with stack.client() as c:
        yield c


def _same(df: pd.DataFrame, items: list[dict], columns: list[str]) -> None:
    assert len(df) == len(items)
    for (_, row), item in zip(df.iterrows(), items, strict=True):
        for col in columns:
            value = row[col]
            if isinstance(value, pd.Timestamp):
                assert value == pd.Timestamp(item[col]), col
            elif item[col] is None:
                assert value is None or pd.isna(value), col
            else:
                assert value == item[col], col


# the worker names the attempt in the task's environment: the first one fails
FAILS_ONCE = {"argv": ["sh", "-c", 'test "$AGENCY_ATTEMPT" -ge 2 || exit 3; sleep 1']}


def test_wait_outlasts_a_failed_attempt_that_is_retried(stack: Stack, client: AgencyClient) -> None:
    """The first attempt's ``task.failed`` is not the end when a retry follows: ``wait``
    returns the task once it is terminal (here succeeded on attempt 2), on both faces."""
    retry = {"max_attempts": 2, "backoff": 0.0}
    one = client.submit("shell", FAILS_ONCE, retry=retry)
    done = client.wait(one.id, 60)
    assert (done.state, done.attempt) == (TaskState.SUCCEEDED, 2)

    async def run() -> None:
        async with AsyncAgencyClient(stack.url, ADMIN) as aio:
            two = await aio.submit("shell", FAILS_ONCE, retry=retry)
            got = await aio.wait(two.id, 60)
            assert (got.state, got.attempt) == (TaskState.SUCCEEDED, 2)

    asyncio.run(run())


def test_submit_wait_and_tasks_frame_match_the_json(stack: Stack, client: AgencyClient) -> None:
    made = client.submit_many(
        [{"kind": "shell", "spec": {"argv": ["echo", str(i)]}} for i in range(3)]
    )
    one = client.submit("shell", {"argv": ["echo", "one"]}, priority=2)
    for t in [*made, one]:
        assert client.wait(t.id, 30).state is TaskState.SUCCEEDED
    df = client.tasks(kind="shell")
    with stack.http() as http:
        items = http.get("/api/v1/tasks", params={"kind": "shell", "limit": 500}).json()["items"]
    assert list(df["id"]) == [i["id"] for i in items]
    _same(
        df,
        items,
        [
            "id",
            "kind",
            "state",
            "priority",
            "attempt",
            "worker_id",
            "exit_code",
            "created_by",
            "created_at",
            "finished_at",
        ],
    )
    assert df["created_at"].dt.tz is not None and str(df["state"].iloc[0]) == "succeeded"
    paged = client.tasks(kind="shell", page_size=1, max_rows=3)  # three round trips of one
    assert list(paged["id"]) == [i["id"] for i in items[:3]]
    assert client.output(one.id).data == "one\n"
    detail = client.task(one.id)
    assert detail.task.priority == 2 and detail.timeline[-1].action == "task.succeeded"
    tl = client.timeline(one.id)
    assert list(tl["seq"]) == [e.seq for e in detail.timeline]
    assert client.replay(one.id).matches


def test_empty_frames_keep_their_columns(client: AgencyClient) -> None:
    df = client.tasks(kind="noop", text="no-such-thing")
    assert df.empty and {"id", "state", "created_at"} <= set(df.columns)


def test_audit_workers_tokens_frames(stack: Stack, client: AgencyClient) -> None:
    audit = client.audit(action="task.", page_size=5, max_rows=12)
    with stack.http() as http:
        items = http.get("/api/v1/audit", params={"action": "task.", "limit": 12}).json()["items"]
        workers = http.get("/api/v1/workers").json()["items"]
    _same(audit, items, ["seq", "actor", "action", "resource_id", "ts", "hash"])
    assert audit["details"].iloc[0] == items[0]["details"]
    wdf = client.workers()
    _same(wdf, workers, ["id", "url", "capacity", "health", "breaker", "last_heartbeat"])
    created = client.create_token("frame-bot", Role.VIEWER)
    toks = client.tokens()
    assert created.token.id in set(toks["id"]) and "token_hash" not in toks.columns
    assert client.revoke_token(created.token.id).revoked_at is not None
    assert client.verify_audit().ok


def test_errors_are_agency_classes(stack: Stack, client: AgencyClient) -> None:
    with pytest.raises(NotFound):
        client.task("nope")
    with pytest.raises(InvalidSpec):  # the server's answer, not a client-side check
        client._do(Call("POST", "/api/v1/tasks", dict, json={"kind": "warp"}))
    with pytest.raises(InvalidCursor):
        client.tasks_page(cursor="garbage")
    with AgencyClient(stack.url, "wrong") as bad, pytest.raises(Unauthorized):
        bad.tasks()
    with (
        AgencyClient(stack.url, stack.token("viewer-c", Role.VIEWER)) as viewer,
        pytest.raises(Forbidden) as info,
    ):
        viewer.submit("noop")
    assert info.value.details["needed"] == "operator"
    with (
        AgencyClient(f"http://127.0.0.1:{free_port()}", ADMIN) as nowhere,
        pytest.raises(ServiceUnavailable),
    ):
        nowhere.tasks()


def test_defaults_come_from_settings_and_the_token_file(tmp_path: Path) -> None:
    (tmp_path / "admin.token").write_text("from-file\n")
    settings = ClientSettings.load(env={}, data_dir=tmp_path, url="http://h:1/")
    assert resolve(None, None, settings) == ("http://h:1", "from-file")
    assert resolve("http://x", "t", settings) == ("http://x", "t")
    assert resolve(None, None, settings.model_copy(update={"token": "env"})) == (
        "http://h:1",
        "env",
    )


def test_event_stream_resumes_across_a_restart(tmp_path: Path) -> None:
    """The server goes away mid-stream; the iterator reconnects with Last-Event-ID and
    delivers every task event exactly once."""
    port = free_port()
    got: list[int] = []
    with AgencyClient(f"http://127.0.0.1:{port}", ADMIN) as c:
        with serve(tmp_path, port=port):
            c.submit_many([{"kind": "noop"} for _ in range(3)])  # no worker: only task.created
            stream = c.stream_events(after=0, max_reconnects=100)
            got += [next(stream).seq for _ in range(3)]
        with serve(tmp_path, port=port) as s2:
            c.submit_many([{"kind": "noop"} for _ in range(2)])
            got += [next(stream).seq for _ in range(2)]
            stream.close()
            with s2.http() as http:
                expected = [
                    e["seq"]
                    for e in http.get("/api/v1/audit", params={"resource_type": "task"}).json()[
                        "items"
                    ]
                ]
    assert got == expected


def test_metrics_stream_and_health(client: AgencyClient) -> None:
    stream = client.stream_metrics()
    snaps = [next(stream) for _ in range(2)]
    stream.close()
    assert snaps[1]["snapshot_id"] > snaps[0]["snapshot_id"] and "queue_depth" in snaps[0]
    health = client.health()
    assert health.components["database"].status == "healthy"
    assert client.whoami().name == "admin"
    assert "agency_http_requests_total" in client.metrics_text()


def test_async_client(stack: Stack) -> None:
    async def run() -> None:
        async with AsyncAgencyClient(stack.url, ADMIN) as c:
            t = await c.submit("shell", {"argv": ["echo", "async"]})
            done = await c.wait(t.id, 30)
            assert done.state is TaskState.SUCCEEDED
            assert (await c.output(t.id)).data == "async\n"
            df = await c.tasks(kind="shell", text=t.id)
            assert list(df["id"]) == [t.id]
            events = []
            async for ev in c.stream_events(after=0, resource_id=t.id):
                events.append(ev.action)
                if ev.action == "task.succeeded":
                    break
            assert events[0] == "task.created"
            with pytest.raises(NotFound):
                await c.task("nope")
            assert (await c.whoami()).role is Role.ADMIN
            assert (await c.verify_audit()).ok

    asyncio.run(run())


def test_transport_errors_map(stack: Stack) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with (
        AgencyClient(stack.url, ADMIN, transport=httpx.MockTransport(refuse)) as c,
        pytest.raises(ServiceUnavailable),
    ):
        c.tasks()
