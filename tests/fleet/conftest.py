"""Fixtures of the fleet tests: a real fake-worker process on 127.0.0.1 and quick settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.settings import Settings

FAKE = Path(__file__).with_name("fake_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Wait until ``url`` answers (bounded), failing early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class FakeWorker:
    """Handle on the fake worker process: its URL, fault controls and request counters."""

    def __init__(self, url: str) -> None:
        self.url = url

    def mode(self, **values: Any) -> None:
        httpx.post(f"{self.url}/_mode", json=values, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.url}/_stats", timeout=5).json()
        return answer

    def reset(self) -> None:
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


@pytest.fixture(scope="session")
def fake_worker_proc() -> Iterator[FakeWorker]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(FAKE), str(port)])
    try:
        wait_http(f"http://127.0.0.1:{port}/_stats", proc)
        yield FakeWorker(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def fake(fake_worker_proc: FakeWorker) -> FakeWorker:
    fake_worker_proc.reset()
    return fake_worker_proc


def quick_settings(**overrides: Any) -> Settings:
    """Settings with short backoffs and timeouts so failure paths run in milliseconds."""
    values: dict[str, Any] = {
        "retry_backoff": 0.01,
        "retry_max_seconds": 5.0,
        "request_timeout": 2.0,
        "breaker_reset": 0.5,
    }
    values.update(overrides)
    return Settings.load(env={}, **values)


@pytest.fixture(params=["aiohttp", "httpx"])
def http_client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings() -> Any:
    return quick_settings


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"
