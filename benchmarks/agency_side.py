"""agency's side of ``bench_vs_celery``, through the public API only: ``agency up`` in a
subprocess (``agency.testing.start_control_plane``), tasks submitted over HTTP, and
completion read from ``GET /api/v1/events/stream``.

The SSE frames are parsed here from the wire (``event:``/``id:``/``data:`` lines), not with
agency's client, so the figures are the server's and not the client library's.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aiohttp
import psutil

from benchmarks.bench_api import AUTH, pct

FINAL = frozenset({"task.succeeded", "task.failed", "task.canceled", "task.rejected"})
NOOP = {"kind": "noop"}
FOREVER = aiohttp.ClientTimeout(total=None)


@dataclass
class SseFrame:
    """One server-sent event as it came off the wire."""

    event: str
    id: str
    data: str


async def sse_frames(response: aiohttp.ClientResponse) -> AsyncIterator[SseFrame]:
    """The events of an SSE response; comments and keep-alives are skipped."""
    event, ident, data = "", "", list[str]()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data or ident:
                yield SseFrame(event or "message", ident, "\n".join(data))
            event, ident, data = "", "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "id":
            ident = value
        elif name == "data":
            data.append(value)


class FinalEvents:
    """Follows the task events stream and notes when each task's final event arrives."""

    def __init__(self, url: str, session: aiohttp.ClientSession, action: str | None) -> None:
        self.url = url
        self.session = session
        self.params = {"action": action} if action else {}
        self.done: dict[str, float] = {}
        self.failed = 0
        self.expected: set[str] = set()
        self.all_done = asyncio.Event()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> FinalEvents:
        self._task = asyncio.create_task(self._follow())
        # the server subscribes before it answers, so the headers mean nothing is missed
        await asyncio.wait_for(self.ready.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def expect(self, ids: set[str]) -> None:
        self.expected = ids
        if ids <= self.done.keys():
            self.all_done.set()

    async def _follow(self) -> None:
        async with self.session.get(
            self.url + "/api/v1/events/stream", params=self.params, headers=AUTH, timeout=FOREVER
        ) as response:
            assert response.status == 200, response.status
            self.ready.set()
            async for frame in sse_frames(response):
                if frame.event not in FINAL:
                    continue
                now = time.perf_counter()
                task_id = json.loads(frame.data)["resource_id"]
                if frame.event != "task.succeeded":
                    self.failed += 1
                self.done.setdefault(task_id, now)
                if self.expected and task_id in self.expected and self.expected <= self.done.keys():
                    self.all_done.set()


@contextmanager
def cpu_of(pid: int) -> Iterator[dict[str, float]]:
    """CPU seconds of the control plane and its workers inside the block (``out["cpu_s"]``)."""
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    before = [p.cpu_times() for p in procs]
    out: dict[str, float] = {}
    yield out
    after = [p.cpu_times() for p in procs]
    out["cpu_s"] = sum(
        a.user + a.system - b.user - b.system for a, b in zip(after, before, strict=True)
    )


async def burst(
    url: str, pid: int, tasks: int, batch: int, action: str | None, timeout: float
) -> dict[str, Any]:
    """``tasks`` no-ops in ``POST /api/v1/tasks`` batches of ``batch`` from one client, one
    batch after the other; tasks/s from the first POST until the last final event."""
    async with aiohttp.ClientSession() as session, FinalEvents(url, session, action) as seen:
        ids: set[str] = set()
        with cpu_of(pid) as cpu:
            t0 = time.perf_counter()
            for start_at in range(0, tasks, batch):
                body = {"tasks": [NOOP] * min(batch, tasks - start_at)}
                async with session.post(url + "/api/v1/tasks", json=body, headers=AUTH) as r:
                    assert r.status == 201, (r.status, await r.text())
                    ids.update(t["id"] for t in await r.json())
            submitted = time.perf_counter() - t0
            seen.expect(ids)
            with suppress(TimeoutError):
                await asyncio.wait_for(seen.all_done.wait(), timeout)
            done = [seen.done[i] for i in ids if i in seen.done]
            elapsed = (max(done) if done else time.perf_counter()) - t0
    return {
        "tasks": tasks,
        "done": len(done),
        "failed": seen.failed,
        "submit_s": round(submitted, 3),
        "elapsed_s": round(elapsed, 3),
        "tasks_per_s": round(len(done) / elapsed, 1),
        "cpu_ms_per_task": round(1000 * cpu["cpu_s"] / max(1, len(done)), 3),
    }


async def paced(url: str, rate: float, seconds: float) -> dict[str, Any]:
    """One client submitting ``rate`` single tasks/s on a fixed schedule (a slow answer does
    not push the next request back); latency from sending the POST until the client holds
    the task's final event."""
    count = int(rate * seconds)
    sent: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=32)

    async def submit(session: aiohttp.ClientSession) -> None:
        t0 = time.perf_counter()
        async with session.post(url + "/api/v1/tasks", json=NOOP, headers=AUTH) as r:
            assert r.status == 201, (r.status, await r.text())
            sent[(await r.json())["id"]] = t0

    async with (
        aiohttp.ClientSession(connector=connector) as session,
        FinalEvents(url, session, "task.succeeded") as seen,
    ):
        start_at = time.perf_counter()
        inflight: list[asyncio.Task[None]] = []
        for i in range(count):
            delay = start_at + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            inflight.append(asyncio.create_task(submit(session)))
        await asyncio.wait_for(asyncio.gather(*inflight), max(30.0, seconds * 3))
        seen.expect(set(sent))
        with suppress(TimeoutError):
            await asyncio.wait_for(seen.all_done.wait(), max(30.0, seconds * 3))
        lat = [(seen.done[i] - t0) * 1000 for i, t0 in sent.items() if i in seen.done]
    return summary(lat, count)


async def idle(url: str, method: str, path: str, count: int, gap: float) -> dict[str, Any]:
    """``count`` requests one at a time on one persistent connection, ``gap`` s apart."""
    lat: list[float] = []
    body = NOOP if method == "POST" else None
    expect = 201 if method == "POST" else 200
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(count + 5):  # the first five open the connection and warm the path
            t0 = time.perf_counter()
            async with session.request(method, url + path, json=body, headers=AUTH) as r:
                await r.read()
                assert r.status == expect, r.status
            if i >= 5:
                lat.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(gap)
    return summary(lat, count)


def summary(lat: list[float], sent: int) -> dict[str, Any]:
    return {
        "sent": sent,
        "done": len(lat),
        "p50_ms": round(statistics.median(lat), 3) if lat else None,
        "p95_ms": round(pct(lat, 0.95), 3) if lat else None,
        "max_ms": round(max(lat), 3) if lat else None,
    }
