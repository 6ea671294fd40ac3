"""A small real worker-protocol server run as its own process, and the handle that drives it.

It speaks enough of the protocol for the client (noop tasks finish at once; POST /task is
idempotent on task id + attempt) and can be told, between test phases, to misbehave:
answer a status N times, add latency, or drop connections. It counts every protocol request
so a test can prove the client did (or did not) touch the network. Control endpoints live
under ``/_`` and are not counted.

    from agency.testing import running_fake_worker
    with running_fake_worker() as fake:     # python -m agency.testing.fake_worker PORT
        fake.mode(fail_status=503, fail_count=2)
        ...                                 # fake.url speaks the protocol, badly for 2 requests
        fake.stats()["requests"]
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web
from aiohttp.typedefs import Handler

from agency.testing.ports import free_port
from agency.testing.processes import stop_process
from agency.testing.waiting import wait_healthy

__all__ = ["FakeWorker", "main", "running_fake_worker"]

STATE: dict[str, Any] = {
    "requests": 0,
    "starts": 0,
    "fail_status": 0,
    "fail_count": 0,
    "fail_code": "",
    "delay_ms": 0.0,
    "delay_count": 0,
    "drop_count": 0,
    "active": 0,
    "max_active": 0,
}
TASKS: dict[str, dict[str, Any]] = {}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message, "details": {}}}, status=status
    )


@web.middleware
async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_"):
        return await handler(request)
    STATE["requests"] += 1
    STATE["active"] += 1
    STATE["max_active"] = max(STATE["max_active"], STATE["active"])
    try:
        return await _misbehave(request, handler)
    finally:
        STATE["active"] -= 1


async def _misbehave(request: web.Request, handler: Handler) -> web.StreamResponse:
    if STATE["drop_count"] > 0:
        STATE["drop_count"] -= 1
        assert request.transport is not None
        request.transport.close()  # no answer at all: the client sees a dropped connection
        raise web.HTTPInternalServerError()
    if STATE["delay_count"] > 0:
        STATE["delay_count"] -= 1
        await asyncio.sleep(STATE["delay_ms"] / 1000)
    if STATE["fail_count"] > 0:
        STATE["fail_count"] -= 1
        return _error(STATE["fail_status"], STATE["fail_code"] or "fault", "fault drill")
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def status(request: web.Request) -> web.Response:
    running = [k for k, t in TASKS.items() if t["state"] == "running"]
    return web.json_response(
        {
            "id": "fake",
            "version": "0",
            "kinds": ["noop"],
            "capacity": 4,
            "running": running,
            "labels": {},
        }
    )


async def submit(request: web.Request) -> web.Response:
    body = await request.json()
    if body.get("kind") != "noop":
        return _error(400, "invalid_spec", f"unknown task kind {body.get('kind')!r}")
    key = f"{body['task_id']}"
    existing = TASKS.get(key)
    if existing is not None and existing["attempt"] == body.get("attempt", 1):
        return web.json_response(existing, status=200)
    STATE["starts"] += 1
    now = datetime.now(UTC).isoformat()
    TASKS[key] = {
        "task_id": body["task_id"],
        "attempt": body.get("attempt", 1),
        "kind": "noop",
        "state": "succeeded",
        "exit_code": 0,
        "started_at": now,
        "finished_at": now,
    }
    return web.json_response(TASKS[key], status=201)


async def task(request: web.Request) -> web.Response:
    found = TASKS.get(request.match_info["id"])
    if found is None:
        return _error(404, "not_found", "unknown task")
    return web.json_response(found)


async def control(request: web.Request) -> web.Response:
    values = await request.json()
    if values.pop("clear_tasks", False):
        TASKS.clear()
    STATE.update(values)
    return web.json_response(STATE)


async def stats(request: web.Request) -> web.Response:
    return web.json_response(STATE)


def main(port: int) -> None:
    """Serve the fake worker on 127.0.0.1:``port`` until the process is stopped."""
    app = web.Application(middlewares=[faults])
    app.add_routes(
        [
            web.get("/health", health),
            web.get("/status", status),
            web.post("/task", submit),
            web.get("/task/{id}", task),
            web.post("/_mode", control),
            web.get("/_stats", stats),
        ]
    )
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        handler_cancellation=True,
    )  # a client that gave up frees its slot


class FakeWorker:
    """Handle on a fake worker process: its URL, fault controls and request counters."""

    def __init__(self, url: str) -> None:
        self.url = url

    def mode(self, **values: Any) -> None:
        """Set counters and faults (``fail_status``/``fail_count``, ``delay_ms``/``delay_count``,
        ``drop_count``; ``clear_tasks=True`` forgets every task)."""
        httpx.post(f"{self.url}/_mode", json=values, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        """The counters: protocol requests, task starts, the most requests at once, ..."""
        answer: dict[str, Any] = httpx.get(f"{self.url}/_stats", timeout=5).json()
        return answer

    def reset(self) -> None:
        """No faults, zero counters, no tasks: as freshly started."""
        self.mode(
            requests=0,
            starts=0,
            fail_count=0,
            fail_status=0,
            fail_code="",
            delay_count=0,
            delay_ms=0.0,
            drop_count=0,
            max_active=0,
            clear_tasks=True,
        )


@contextmanager
def running_fake_worker(timeout: float = 20.0) -> Iterator[FakeWorker]:
    """Start ``python -m agency.testing.fake_worker`` on a free port; stop it on exit."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agency.testing.fake_worker", str(port)])
    try:
        fake = FakeWorker(f"http://127.0.0.1:{port}")
        wait_healthy(fake.url, timeout, proc, path="/_stats")  # /health would count as a request
        yield fake
    finally:
        stop_process(proc, 10)


if __name__ == "__main__":
    main(int(sys.argv[1]))
