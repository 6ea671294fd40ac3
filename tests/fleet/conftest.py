"""Fixtures of the fleet tests: a real fake-worker process on 127.0.0.1 (``agency.testing``)
and quick settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agency.settings import Settings
from agency.testing import FakeWorker, free_port, running_fake_worker


@pytest.fixture(scope="session")
def fake_worker_proc() -> Iterator[FakeWorker]:
    with running_fake_worker() as fake:
        yield fake


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
