"""WorkerClient against a real server process: round trips, retries, timeouts, drops."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from agency.errors import InvalidSpec, NotFound, WorkerError, WorkerFull, WorkerUnavailable
from agency.fleet import WorkerClient
from agency.models import WorkerTaskRequest, WorkerTaskState

NOOP = WorkerTaskRequest(task_id="t1", attempt=1, kind="noop", spec={})


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "agency.fleet" and r.getMessage().startswith("worker_call ")
    ]


async def test_round_trip(fake: Any, make_settings: Any, http_client: str) -> None:
    client = WorkerClient("w1", fake.url, make_settings(http_client=http_client))
    try:
        st = await client.submit(NOOP)
        assert st.state is WorkerTaskState.SUCCEEDED and st.exit_code == 0
        again = await client.task_status("t1")
        assert again.task_id == "t1" and again.state is WorkerTaskState.SUCCEEDED
        status = await client.status()
        assert status.kinds == ["noop"]
        assert await client.health() is True
        with pytest.raises(NotFound) as err:
            await client.task_status("nope")
        assert err.value.details["worker_code"] == "not_found"
    finally:
        await client.aclose()
    assert fake.stats()["starts"] == 1
    assert client.breaker_state == "closed" and client.recent_failures == 0


async def test_503_three_times_is_retried_and_runs_once(
    fake: Any, make_settings: Any, http_client: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agency.fleet")
    fake.mode(fail_status=503, fail_count=3)
    client = WorkerClient("w1", fake.url, make_settings(http_client=http_client, retry_attempts=4))
    try:
        st = await client.submit(NOOP)
    finally:
        await client.aclose()
    assert st.state is WorkerTaskState.SUCCEEDED
    assert fake.stats()["requests"] == 4
    assert fake.stats()["starts"] == 1
    lines = attempt_lines(caplog)
    assert [r.attempt for r in lines] == [1, 2, 3, 4]  # type: ignore[attr-defined]
    assert [r.outcome for r in lines] == ["503", "503", "503", "201"]  # type: ignore[attr-defined]
    assert all(r.task_id == "t1" and r.latency_ms >= 0 for r in lines)  # type: ignore[attr-defined]
    assert client.recent_failures == 0  # the whole retried call was one success


async def test_503_every_time_gives_up_bounded(fake: Any, make_settings: Any) -> None:
    fake.mode(fail_status=503, fail_count=100)
    client = WorkerClient("w1", fake.url, make_settings(retry_attempts=3))
    try:
        with pytest.raises(WorkerUnavailable) as err:
            await client.submit(NOOP)
    finally:
        await client.aclose()
    assert fake.stats()["requests"] == 3
    assert err.value.details["attempts"] == 3 and err.value.details["status"] == 503
    assert client.recent_failures == 1  # one whole call, one failure


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (400, "invalid_spec", InvalidSpec),
        (409, "worker_full", WorkerFull),
        (500, "boom", WorkerError),
        (503, "draining", WorkerUnavailable),
    ],
)
async def test_final_answers_are_not_retried(
    fake: Any, make_settings: Any, status: int, code: str, exc: type[Exception]
) -> None:
    fake.mode(fail_status=status, fail_code=code, fail_count=1)
    client = WorkerClient("w1", fake.url, make_settings(retry_attempts=4))
    try:
        with pytest.raises(exc) as err:
            await client.submit(NOOP)
    finally:
        await client.aclose()
    assert fake.stats()["requests"] == 1
    assert err.value.details["worker_code"] == code  # type: ignore[attr-defined]
    # only a 500 says the worker is sick; 4xx and draining are deliberate answers
    assert client.recent_failures == (1 if status == 500 else 0)


async def test_real_400_invalid_spec_from_bad_kind(fake: Any, make_settings: Any) -> None:
    client = WorkerClient("w1", fake.url, make_settings())
    try:
        with pytest.raises(InvalidSpec, match="unknown task kind"):
            await client.submit(
                WorkerTaskRequest(task_id="x", kind="shell", spec={"argv": ["true"]})
            )
    finally:
        await client.aclose()
    assert fake.stats()["requests"] == 1


async def test_timeout_is_retried(fake: Any, make_settings: Any, http_client: str) -> None:
    fake.mode(delay_ms=1500, delay_count=1)
    client = WorkerClient(
        "w1",
        fake.url,
        make_settings(http_client=http_client, request_timeout=0.3, retry_attempts=3),
    )
    try:
        st = await client.submit(NOOP)
    finally:
        await client.aclose()
    assert st.state is WorkerTaskState.SUCCEEDED
    assert client.attempts_total == 2
    assert fake.stats()["starts"] == 1


async def test_dropped_connection_is_retried(
    fake: Any, make_settings: Any, http_client: str
) -> None:
    fake.mode(drop_count=2)
    client = WorkerClient("w1", fake.url, make_settings(http_client=http_client, retry_attempts=4))
    try:
        st = await client.submit(NOOP)
    finally:
        await client.aclose()
    assert st.state is WorkerTaskState.SUCCEEDED
    assert client.attempts_total == 3
    assert fake.stats()["starts"] == 1


async def test_connection_refused_is_retried_then_unavailable(
    closed_url: str, make_settings: Any, http_client: str
) -> None:
    client = WorkerClient(
        "w1", closed_url, make_settings(http_client=http_client, retry_attempts=3)
    )
    try:
        with pytest.raises(WorkerUnavailable) as err:
            await client.submit(NOOP)
        assert await client.health() is False
    finally:
        await client.aclose()
    assert client.attempts_total == 3 + 3
    assert err.value.details["attempts"] == 3
    assert client.recent_failures == 2


async def test_in_flight_requests_are_bounded(
    fake: Any, make_settings: Any, http_client: str
) -> None:
    fake.mode(delay_ms=150, delay_count=8)
    client = WorkerClient("w1", fake.url, make_settings(http_client=http_client, max_in_flight=2))
    try:
        results = await asyncio.gather(*(client.status() for _ in range(8)))
    finally:
        await client.aclose()
    assert len(results) == 8
    assert fake.stats()["max_active"] == 2
