"""``worker_timeline`` on both faces against a real control plane and worker: the window's
bars as ``WorkerTimeline``, ``since``/``until``/``limit`` sent as the API reads them, and a
bad window refused with the field named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from agency.client import AgencyClient, AsyncAgencyClient
from agency.errors import ValidationFailed
from agency.models.timeline import WorkerTimeline
from agency.testing import ADMIN, Stack, serve


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("timeline"), workers=1) as s:
        yield s


def test_sync_face(stack: Stack) -> None:
    with AgencyClient(stack.url, ADMIN) as c:
        done = c.wait(c.submit("shell", {"argv": ["echo", "bar"]}).id, 30)
        tl = c.worker_timeline()
        assert isinstance(tl, WorkerTimeline)
        (bar,) = [b for b in tl.items if b.task_id == done.id]
        assert bar.worker_id == done.worker_id and bar.command == "echo bar"
        assert bar.state.value == "succeeded" and bar.finished_at is not None
        before = bar.started_at - timedelta(hours=1)
        assert c.worker_timeline(since=before, until=bar.started_at).items == []
        assert c.worker_timeline(since=before, limit=1).items[-1].task_id == done.id
        with pytest.raises(ValidationFailed) as refused:
            c.worker_timeline(since=bar.started_at, until=before)
        assert refused.value.details["field"] == "since"


async def test_async_face(stack: Stack) -> None:
    async with AsyncAgencyClient(stack.url, ADMIN) as c:
        done = await c.wait((await c.submit("shell", {"argv": ["echo", "async"]})).id, 30)
        now = datetime.now(UTC)
        tl = await c.worker_timeline(since=now - timedelta(minutes=5), until=now, limit=50)
        assert tl.until == now and any(b.task_id == done.id for b in tl.items)
