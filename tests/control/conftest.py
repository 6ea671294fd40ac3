"""Fixtures of the orchestrator tests: real workers, a real DuckDB file, quick settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agency.control.tasks import Orchestrator
from agency.fleet import Registry
from agency.settings import Settings
from agency.storage import Repositories, Store
from agency.testing import (
    Heartbeats,
    WorkerProc,
    assert_replays,
    quick_settings,
    register,
    start_worker,
)

CAPACITY = 4


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WorkerProc]]:
    """Three standalone workers shared by the tests of a module that do not kill them."""
    root = tmp_path_factory.mktemp("fleet")
    workers = [
        start_worker(root / f"w{i}", capacity=CAPACITY, worker_id=f"w{i}", sandbox="off")
        for i in range(3)
    ]
    yield workers
    for w in workers:
        w.stop()


@pytest.fixture
def qsettings(tmp_path: Path) -> Settings:
    return quick_settings(tmp_path)


@pytest.fixture
async def qstore(qsettings: Settings) -> AsyncIterator[Store]:
    store = await Store.open(qsettings.database_path)
    try:
        yield store
        await assert_replays(store)
    finally:
        await store.close()


@pytest.fixture
async def orch(
    qsettings: Settings, qstore: Store, fleet: list[WorkerProc]
) -> AsyncIterator[Orchestrator]:
    """A started orchestrator with the shared fleet registered and heartbeating."""
    o = Orchestrator(qsettings, Repositories(qstore), Registry(qsettings))
    await o.start()
    await register(o, fleet, CAPACITY)
    try:
        async with Heartbeats(o, fleet, qsettings.heartbeat_interval):
            yield o
    finally:
        await o.stop()
