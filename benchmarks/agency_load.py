"""The side load of ``bench_vs_celery``'s last measure: 100 clients on
``/api/v1/metrics/stream`` and 20 chat sockets, in a process of their own (clients are
elsewhere in real life; sharing the load generator's loop would measure the generator).

Each chat socket opens its own session (``POST /api/v1/chat/session``), connects to
``/api/v1/chat/ws/{id}`` and sends ``/status`` every ``CHAT_EVERY`` seconds, as an operator
watching the system would; the assistant's answers are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.agency_side import FOREVER, sse_frames
from benchmarks.bench_api import AUTH

CHAT_EVERY = 2.0  # seconds between one socket's messages: 20 sockets send 10 per second


async def _metrics_listener(
    url: str, session: aiohttp.ClientSession, seen: list[tuple[int, float]]
) -> None:
    async with session.get(
        url + "/api/v1/metrics/stream", headers=AUTH, timeout=FOREVER
    ) as response:
        async for frame in sse_frames(response):
            if frame.id:
                seen.append((int(frame.id), time.time()))  # wall clock: the parent's too


async def _chat(
    url: str, session: aiohttp.ClientSession, stats: dict[str, int], stop: asyncio.Event
) -> None:
    async with session.post(
        url + "/api/v1/chat/session", json={"title": "bench"}, headers=AUTH
    ) as r:
        assert r.status == 201, r.status
        sid = (await r.json())["session_id"]
    ws_url = url.replace("http://", "ws://") + f"/api/v1/chat/ws/{sid}?after=0"
    async with session.ws_connect(ws_url, headers=AUTH) as ws:
        stats["connected"] += 1

        async def read() -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame.get("type") == "message" and frame.get("role") == "assistant":
                    stats["replies"] += 1
                elif frame.get("type") == "error":
                    stats["errors"] += 1

        reader = asyncio.create_task(read())
        try:
            while not stop.is_set():
                await ws.send_str(json.dumps({"content": "/status"}))
                stats["sent"] += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CHAT_EVERY)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _run(url: str, sse_clients: int, chat_sockets: int, stop: Any, out: Path) -> None:
    ids: list[list[tuple[int, float]]] = [[] for _ in range(sse_clients)]
    stats = {"connected": 0, "sent": 0, "replies": 0, "errors": 0}
    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=sse_clients + chat_sockets + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(_metrics_listener(url, session, lst)) for lst in ids]
        tasks += [
            asyncio.create_task(_chat(url, session, stats, done)) for _ in range(chat_sockets)
        ]
        deadline = time.monotonic() + 600  # bounded even if the parent never says stop
        while not stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        done.set()
        await asyncio.sleep(0.5)  # the chat loops leave on their own
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in results if isinstance(r, Exception)]
    out.write_text(json.dumps({"ids": ids, "chat": stats, "failures": failures[:5]}))


def listener_process(url: str, sse_clients: int, chat_sockets: int, stop: Any, out: str) -> None:
    """Entry point of the spawned process; writes what it saw to ``out`` as JSON."""
    asyncio.run(_run(url, sse_clients, chat_sockets, stop, Path(out)))
