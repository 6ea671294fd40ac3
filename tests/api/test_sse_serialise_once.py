"""The events stream serialises each event once, whatever the number of clients (every
client gets the same bytes, ``Event.model_dump_json`` runs once per event), and sends the
events at hand in one write."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from agency.client.sse import SseDecoder, SseMessage
from agency.control.audit import EventFeed, EventFilter
from agency.models import Event, EventIn
from agency.storage import Repositories
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


async def test_events_at_hand_go_out_together_and_a_quiet_feed_holds_none_back(
    tmp_path: Path,
) -> None:
    repos = await Repositories.open(tmp_path / "feed.duckdb")
    try:
        events = repos.events
        feed = EventFeed(
            events, events.subscribe(), EventFilter(resource_type="task"), 0, backfill=False
        )
        batches = feed.batches(most=8)
        one = [
            EventIn(actor="a", action="task.x", resource_type="task", resource_id=str(i))
            for i in range(20)
        ]
        noise = EventIn(actor="a", action="alert.x", resource_type="alert", resource_id="n")
        await repos.store.write(*one, noise, journal=True)  # one commit: 20 at hand, 1 filtered out
        sizes = [len(await asyncio.wait_for(anext(batches), 5)) for _ in range(3)]
        assert sizes == [8, 8, 4]  # at most ``most`` each, the rest as soon as nothing follows
        await repos.store.write(noise, journal=True)
        await repos.store.write(one[0], journal=True)
        assert [e.resource_id for e in await asyncio.wait_for(anext(batches), 5)] == ["0"]
        feed.close()
    finally:
        await repos.close()
