"""A small real worker-protocol server for the fleet tests, run as its own process.

It speaks enough of the protocol for the client (noop tasks finish at once; POST /task is
idempotent on task id + attempt) and can be told, between test phases, to misbehave:
answer a status N times, add latency, or drop connections. It counts every protocol request
so a test can prove the client did (or did not) touch the network. Control endpoints live
under ``/_`` and are not counted.

    python tests/fleet/fake_worker.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

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
async def faults(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/_"):
        return await handler(request)
    STATE["requests"] += 1
    STATE["active"] += 1
    STATE["max_active"] = max(STATE["max_active"], STATE["active"])
    try:
        return await _misbehave(request, handler)
    finally:
        STATE["active"] -= 1


async def _misbehave(request: web.Request, handler: Any) -> web.StreamResponse:
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


def main() -> None:
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
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
        handler_cancellation=True,
    )  # a client that gave up frees its slot


if __name__ == "__main__":
    main()
