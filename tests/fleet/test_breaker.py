"""The per-worker circuit breaker, against a real server process that counts requests."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from agency.errors import CircuitOpen, NotFound, WorkerUnavailable
from agency.fleet import WorkerClient
from agency.models import WorkerTaskRequest


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll a cheap in-process condition until it holds, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


async def open_breaker(client: WorkerClient, fake: Any, n: int = 5) -> None:
    fake.mode(fail_status=503, fail_count=n)
    for _ in range(n):
        with pytest.raises(WorkerUnavailable):
            await client.status()


async def test_five_failures_open_then_fail_fast_then_trial_closes(
    fake: Any, make_settings: Any, http_client: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agency.fleet")
    client = WorkerClient(
        "w1", fake.url, make_settings(http_client=http_client, retry_attempts=1, breaker_reset=0.4)
    )
    try:
        await open_breaker(client, fake, 4)
        assert client.breaker_state == "closed" and client.recent_failures == 4
        await open_breaker(client, fake, 1)
        assert client.breaker_state == "open" and client.recent_failures == 5
        assert not client.available
        seen = fake.stats()["requests"]
        assert seen == 5
        started = time.perf_counter()
        for _ in range(20):
            with pytest.raises(CircuitOpen) as err:
                await client.submit(WorkerTaskRequest(task_id="t", kind="noop"))
        assert (time.perf_counter() - started) < 0.5  # fast: no network, no backoff
        assert err.value.status == 503 and err.value.details["breaker"] == "open"
        assert fake.stats()["requests"] == seen  # nothing reached the worker
        await wait_until(lambda: client.available)
        st = await client.submit(WorkerTaskRequest(task_id="t", kind="noop"))  # the trial
        assert st.state.value == "succeeded"
        assert client.breaker_state == "closed" and client.recent_failures == 0
        assert fake.stats()["requests"] == seen + 1
    finally:
        await client.aclose()
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("breaker ")]
    assert any("closed -> open" in m for m in changes)
    assert any("open -> half-open" in m for m in changes)
    assert any("half-open -> closed" in m for m in changes)


async def test_failed_trial_reopens(fake: Any, make_settings: Any) -> None:
    client = WorkerClient("w1", fake.url, make_settings(retry_attempts=1, breaker_reset=0.3))
    try:
        await open_breaker(client, fake)
        await wait_until(lambda: client.available)
        fake.mode(fail_status=503, fail_count=1)
        with pytest.raises(WorkerUnavailable):
            await client.status()
        assert client.breaker_state == "open" and not client.available
        with pytest.raises(CircuitOpen):
            await client.status()
    finally:
        await client.aclose()


async def test_one_trial_at_a_time(fake: Any, make_settings: Any) -> None:
    client = WorkerClient("w1", fake.url, make_settings(retry_attempts=1, breaker_reset=0.3))
    try:
        await open_breaker(client, fake)
        await wait_until(lambda: client.available)
        before = fake.stats()["requests"]
        fake.mode(delay_ms=300, delay_count=1)  # the trial is slow: others must not pile in
        results = await asyncio.gather(*(client.status() for _ in range(5)), return_exceptions=True)
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert sum(isinstance(r, CircuitOpen) for r in results) == 4
        assert fake.stats()["requests"] == before + 1
        assert client.breaker_state == "closed"
    finally:
        await client.aclose()


async def test_4xx_answers_do_not_open_the_breaker(fake: Any, make_settings: Any) -> None:
    client = WorkerClient("w1", fake.url, make_settings(retry_attempts=1, breaker_fail_max=3))
    try:
        for _ in range(6):
            with pytest.raises(NotFound):
                await client.task_status("missing")
        assert client.breaker_state == "closed" and client.recent_failures == 0
        # and a 4xx in between resets the consecutive count, like any answer from a live worker
        await open_breaker(client, fake, 2)
        with pytest.raises(NotFound):
            await client.task_status("missing")
        assert client.recent_failures == 0
    finally:
        await client.aclose()


async def test_connection_refused_opens_breaker(closed_url: str, make_settings: Any) -> None:
    client = WorkerClient("w1", closed_url, make_settings(retry_attempts=2, breaker_fail_max=2))
    try:
        for _ in range(2):
            with pytest.raises(WorkerUnavailable) as err:
                await client.status()
            assert not isinstance(err.value, CircuitOpen)
        attempts = client.attempts_total
        assert attempts == 4
        with pytest.raises(CircuitOpen):
            await client.status()
        assert client.attempts_total == attempts
    finally:
        await client.aclose()
