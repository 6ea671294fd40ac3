"""``GET /health`` answers from the last background check of the database, not a round trip
per probe; a database that stops answering still shows as unhealthy, within the timeout."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from agency.control import health as health_module
from agency.testing import Stack, serve, wait_for


def _probe(stack: Stack, count: int) -> list[dict]:
    with httpx.Client(base_url=stack.url) as http:
        return [http.get("/health").json() for _ in range(count)]


def test_probes_cost_no_database_round_trip(tmp_path: Path) -> None:
    with serve(tmp_path) as stack:
        repos = stack.plane.repos
        real_ping = repos.ping
        pings = 0

        async def counted() -> None:
            nonlocal pings
            pings += 1
            await real_ping()

        repos.ping = counted  # type: ignore[method-assign]
        started = time.monotonic()
        bodies = _probe(stack, 60)
        elapsed = time.monotonic() - started
        assert all(b["components"]["database"]["status"] == "healthy" for b in bodies)
        # only the background check pings: once per interval, whatever the probe rate
        assert pings <= elapsed / health_module.DATABASE_INTERVAL + 1, (pings, elapsed)


def test_a_hung_database_shows_unhealthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "DATABASE_INTERVAL", 0.1)
    monkeypatch.setattr(health_module, "DATABASE_TIMEOUT", 0.3)
    with serve(tmp_path) as stack:
        hung = asyncio.Event()

        async def never() -> None:  # a DuckDB that stopped answering cannot be made here
            await hung.wait()

        stack.plane.repos.ping = never  # type: ignore[method-assign]

        def database() -> dict:
            with httpx.Client(base_url=stack.url) as http:
                r = http.get("/health")
            body: dict = r.json()["components"]["database"]
            return {"code": r.status_code} | body

        seen = wait_for(lambda: (d := database())["status"] == "unhealthy" and d, timeout=10)
        assert seen["code"] == 503 and "did not answer" in seen["reason"]
