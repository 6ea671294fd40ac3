"""SSE streams: task events resumable by seq without gaps or duplicates; KPI snapshots with
ids, keep-alives and Last-Event-ID replay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agency.client.sse import SseDecoder, SseMessage
from agency.testing import ADMIN, Stack, serve

AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(
        tmp_path_factory.mktemp("sse"), workers=1, sse_metrics_interval=0.2, sse_ping_interval=0.3
    ) as s:
        yield s


def read(
    url: str,
    path: str,
    *,
    params: dict | None = None,
    headers: dict | None = None,
    stop: int = 1,
    seconds: float = 15.0,
    comments: list[str] | None = None,
) -> list[SseMessage]:
    """Up to ``stop`` messages (or until ``seconds`` pass), then disconnect."""
    out: list[SseMessage] = []
    decoder = SseDecoder()
    deadline = time.monotonic() + seconds
    with httpx.stream(
        "GET", url + path, params=params, headers={**AUTH, **(headers or {})}, timeout=10
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if comments is not None and line.startswith(":"):
                comments.append(line)
            msg = decoder.feed(line)
            if msg is not None:
                out.append(msg)
            if len(out) >= stop or time.monotonic() > deadline:
                break
    return out


def test_events_resume_with_last_event_id_loses_nothing(fast: Stack) -> None:
    with fast.http() as http:
        start = http.get("/api/v1/audit/verify").json()["checked"]  # events so far
        http.post("/api/v1/tasks", json={"tasks": [{"kind": "noop"} for _ in range(10)]})
        first = read(fast.url, "/api/v1/events/stream", params={"after": start}, stop=7)
        assert len(first) == 7
        # more events land while the client is away
        http.post("/api/v1/tasks", json={"tasks": [{"kind": "noop"} for _ in range(10)]})
        fast.burst(30)
        expected = [
            e["seq"]
            for e in http.get(
                "/api/v1/audit", params={"resource_type": "task", "limit": 1000, "cursor": None}
            ).json()["items"]
            if e["seq"] > start
        ]
        rest = read(
            fast.url,
            "/api/v1/events/stream",
            headers={"Last-Event-ID": first[-1].id or ""},
            stop=len(expected) - 7,
            seconds=20,
        )
    got = [int(m.id or 0) for m in first + rest]
    assert got == expected  # every task event once, in order, across the reconnect
    for m in first + rest:
        body = json.loads(m.data)
        assert (
            m.event == body["action"]
            and body["resource_type"] == "task"
            and int(m.id or 0) == body["seq"]
        )


def test_events_live_then_filtered(fast: Stack) -> None:
    with fast.http() as http:
        task = http.post("/api/v1/tasks", json={"kind": "noop"}).json()
        msgs = read(
            fast.url,
            "/api/v1/events/stream",
            params={"after": 0, "resource_id": task["id"]},
            stop=1,
        )
        assert msgs[0].event == "task.created"
        created = read(
            fast.url, "/api/v1/events/stream", params={"after": 0, "action": "task.created"}, stop=3
        )
        assert {m.event for m in created} == {"task.created"}
        every = read(
            fast.url, "/api/v1/events/stream", params={"after": 0, "resource_type": "*"}, stop=1
        )
        assert every[0].id == "1"  # the very first event of the chain, whatever its kind


def test_events_live_without_resume_starts_now(fast: Stack) -> None:
    with (
        fast.http() as http,
        httpx.stream("GET", fast.url + "/api/v1/events/stream", headers=AUTH, timeout=10) as r,
    ):
        decoder = SseDecoder()
        lines = r.iter_lines()
        assert next(lines).startswith(":")  # "stream open": the subscription exists now
        task = http.post("/api/v1/tasks", json={"kind": "noop"}).json()
        for line in lines:
            msg = decoder.feed(line)
            if msg is not None:
                assert (
                    json.loads(msg.data)["resource_id"] == task["id"]
                    and msg.event == "task.created"
                )
                break


@pytest.mark.parametrize("bad", ["abc", "-3"])
def test_bad_last_event_id_is_400(fast: Stack, bad: str) -> None:
    for path in ("/api/v1/events/stream", "/api/v1/metrics/stream"):
        r = httpx.get(fast.url + path, headers={**AUTH, "Last-Event-ID": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


def test_streams_need_a_token_and_accept_it_as_query(fast: Stack) -> None:
    assert httpx.get(fast.url + "/api/v1/metrics/stream").status_code == 401
    with httpx.stream(
        "GET", fast.url + "/api/v1/metrics/stream", params={"token": ADMIN}, timeout=10
    ) as r:
        assert r.status_code == 200


def test_metrics_snapshots_ids_keepalive_and_resume(fast: Stack) -> None:
    comments: list[str] = []
    snaps = read(fast.url, "/api/v1/metrics/stream", stop=4, comments=comments)
    ids = [int(m.id or 0) for m in snaps]
    assert ids == sorted(ids) and len(set(ids)) == 4
    for m in snaps:
        assert m.event == "kpi"
        data = json.loads(m.data)
        assert {"queue_depth", "running", "active_workers"} <= set(data)
    # away for a while, then resume: the snapshots taken meanwhile come first
    time.sleep(0.7)  # lets the server take snapshots while no one listens on this connection
    again = read(
        fast.url, "/api/v1/metrics/stream", headers={"Last-Event-ID": str(ids[-1])}, stop=3
    )
    resumed = [int(m.id or 0) for m in again]
    assert resumed[0] > ids[-1] and resumed == sorted(resumed)
    # keep-alives: a connection held past the ping interval sees comment lines
    keep: list[str] = []
    read(fast.url, "/api/v1/metrics/stream", stop=100, seconds=1.0, comments=keep)
    assert any(c.startswith(": ping") for c in keep)


def test_sse_client_gauge(fast: Stack) -> None:
    def gauge() -> float:
        with fast.http() as http:
            for line in http.get("/metrics").text.splitlines():
                if line.startswith('agency_sse_clients{stream="metrics"}'):
                    return float(line.split()[-1])
        raise AssertionError("gauge missing")

    before = gauge()
    with httpx.stream("GET", fast.url + "/api/v1/metrics/stream", headers=AUTH, timeout=10) as r:
        lines = r.iter_lines()  # kept referenced: a collected iterator closes the connection
        for line in lines:
            if line.startswith("data:"):
                break
        assert gauge() == before + 1
    deadline = time.monotonic() + 10
    while gauge() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gauge() == before


def test_many_metrics_clients_each_get_every_snapshot(tmp_path: Path) -> None:
    """20 concurrent clients over 2 s all see the same consecutive snapshot ids."""
    import asyncio

    with serve(tmp_path, sse_metrics_interval=0.2) as s:

        async def one() -> list[int]:
            ids: list[int] = []
            decoder = SseDecoder()
            async with (
                httpx.AsyncClient(timeout=10) as c,
                c.stream("GET", s.url + "/api/v1/metrics/stream", headers=AUTH) as r,
            ):
                async for line in r.aiter_lines():
                    msg = decoder.feed(line)
                    if msg is not None:
                        ids.append(int(msg.id or 0))
                    if len(ids) >= 8:
                        return ids
            return ids

        async def all_of() -> list[list[int]]:
            return await asyncio.gather(*(one() for _ in range(20)))

        results = asyncio.run(all_of())
    tails = [set(r[2:]) for r in results]  # the first one or two may be the backlog snapshot
    common = set.intersection(*tails)
    assert len(common) >= 4, results
