"""The events stream serialises each event once, whatever the number of clients: every
client gets the same bytes, and ``Event.model_dump_json`` runs once per event."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from agency.client.sse import SseDecoder, SseMessage
from agency.models import Event
from agency.testing import ADMIN, serve, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN}"}
CLIENTS = 5
TASKS = 3


def test_each_event_is_serialised_once_for_all_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumped: Counter[int] = Counter()
    real_dump = Event.model_dump_json

    def counting(self: Event, **kwargs: object) -> str:
        dumped[self.seq] += 1
        return real_dump(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Event, "model_dump_json", counting)
    with serve(tmp_path) as stack:
        opened = 0

        async def one() -> list[SseMessage]:
            nonlocal opened
            got: list[SseMessage] = []
            decoder = SseDecoder()
            async with (
                httpx.AsyncClient(timeout=15) as c,
                c.stream("GET", stack.url + "/api/v1/events/stream", headers=AUTH) as r,
            ):
                opened += 1
                async for line in r.aiter_lines():
                    msg = decoder.feed(line)
                    if msg is not None and msg.event == "task.created":
                        got.append(msg)
                    if len(got) == TASKS:
                        return got
            return got

        async def run() -> list[list[SseMessage]]:
            readers = [asyncio.create_task(one()) for _ in range(CLIENTS)]
            await asyncio.to_thread(wait_for, lambda: opened == CLIENTS, 10)
            async with httpx.AsyncClient(base_url=stack.url, headers=AUTH) as http:
                for _ in range(TASKS):
                    r = await http.post("/api/v1/tasks", json={"kind": "noop"})
                    assert r.status_code == 201
            return await asyncio.wait_for(asyncio.gather(*readers), 15)

        seen = asyncio.run(run())
    frames = [[(m.id, m.data) for m in client] for client in seen]
    assert all(f == frames[0] for f in frames) and len(frames[0]) == TASKS
    streamed = [int(m.id or 0) for m in seen[0]]
    assert [dumped[seq] for seq in streamed] == [1] * TASKS, dumped
