"""The schedule methods of both faces against a real control plane: models and DataFrames
equal to the API's answers, the fires' history paged into one frame, errors as agency's."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from agency.client import AgencyClient, AsyncAgencyClient
from agency.errors import Conflict, Forbidden, NotFound, ValidationFailed
from agency.models import Role, ScheduleView, SkipReason
from agency.testing import ADMIN, Stack, serve

NOOP = {"kind": "noop", "spec": {}}
LONG = {"kind": "noop", "spec": {"sleep": 60}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with serve(tmp_path_factory.mktemp("schedules"), workers=1) as s:
        yield s


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[AgencyClient]:
    with stack.client() as c:
        yield c


def test_the_life_of_a_schedule(stack: Stack, client: AgencyClient) -> None:
    made = client.create_schedule("c-hourly", "0 * * * *", NOOP, timezone="Europe/Berlin")
    assert isinstance(made, ScheduleView) and made.revision == 1 and len(made.next_fires) == 5
    assert client.schedule("c-hourly").id == made.id

    frame = client.schedules()
    row = frame.set_index("name").loc["c-hourly"]
    assert row["next_fire"] == pd.Timestamp(made.next_fires[0]) and row["next_fire"].tz is not None
    assert pd.isna(row["last_slot"]) and row["cron"] == "0 * * * *"
    assert [s.name for s in client.schedule_list()] == list(frame["name"])

    edited = client.edit_schedule("c-hourly", cron="30 * * * *", overlap="forbid")
    assert edited.revision == 2 and edited.next_fires[0].minute == 30
    assert client.pause_schedule(made.id, "maintenance").next_fires == []
    assert client.resume_schedule(made.id).paused is False

    first = client.trigger_schedule("c-hourly", "by hand")
    assert first.manual and first.task_id is not None
    second = client.trigger_schedule("c-hourly")
    assert second.task_id is not None  # noop: the first was already final, or ran alongside
    stack.burst()
    fires = client.schedule_fires("c-hourly", page_size=1)
    assert list(fires["task_id"]) == [second.task_id, first.task_id]
    assert fires["slot"].dt.tz is not None and set(fires["state"]) == {"succeeded"}
    page = client.schedule_fires_page("c-hourly", limit=1)
    assert page.next_cursor and page.items[0].task_id == second.task_id
    row = client.schedules().set_index("name").loc["c-hourly"]
    assert row["last_task_id"] == second.task_id and row["last_state"] == "succeeded"

    with pytest.raises(Conflict):
        client.create_schedule("c-hourly", "0 * * * *", NOOP)
    with pytest.raises(ValidationFailed, match=r"body\.cron"):
        client.edit_schedule("c-hourly", cron="61 * * * *")  # refused before it is sent
    client.delete_schedule("c-hourly")
    with pytest.raises(NotFound):
        client.schedule("c-hourly")


def test_a_viewer_reads_but_does_not_change(stack: Stack, client: AgencyClient) -> None:
    client.create_schedule("c-viewed", "0 3 * * *", NOOP)
    try:
        with AgencyClient(stack.url, stack.token("vic", Role.VIEWER)) as viewer:
            assert "c-viewed" in set(viewer.schedules()["name"])
            with pytest.raises(Forbidden):
                viewer.trigger_schedule("c-viewed")
            assert len(viewer.preview_schedule("0 3 * * *", count=2).next_fires) == 2
    finally:
        client.delete_schedule("c-viewed")


def test_preview_crosses_daylight_saving_as_the_scheduler_does(client: AgencyClient) -> None:
    shown = client.preview_schedule("0 * * * *", "America/New_York", count=48)
    gaps = {b - a for a, b in itertools.pairwise(shown.next_fires)}
    assert gaps == {timedelta(hours=1)}  # every real hour, whatever the clocks do
    assert shown.next_fires[0] > datetime.now(UTC)
    with pytest.raises(ValidationFailed, match=r"body\.timezone"):
        client.preview_schedule("* * * * *", "Mars/Olympus")


async def test_the_async_face(stack: Stack) -> None:
    async with AsyncAgencyClient(stack.url, ADMIN) as c:
        made = await c.create_schedule("c-async", "*/5 * * * *", LONG, overlap="forbid")
        try:
            fired = await c.trigger_schedule("c-async")
            skipped = await c.trigger_schedule("c-async")  # the first still runs
            assert fired.task_id and skipped.skipped_reason is SkipReason.OVERLAP
            frame = await c.schedule_fires(made.id)
            assert frame["skipped_reason"].iloc[0] == "overlap" and pd.isna(
                frame["skipped_reason"].iloc[1]
            )
            assert (await c.schedule_fires_page(made.id)).items[0].skipped_reason == "overlap"
            assert (await c.schedule(made.id)).last_fire is not None
            assert (await c.pause_schedule(made.id)).paused
            assert not (await c.resume_schedule(made.id)).paused
            assert (await c.edit_schedule(made.id, jitter_seconds=2)).revision == 2
            assert "c-async" in {s.name for s in await c.schedule_list()}
            assert "c-async" in set((await c.schedules())["name"])
            assert (await c.preview_schedule("@daily")).cron == "@daily"
            await c.cancel(fired.task_id, "test over")
        finally:
            await c.delete_schedule(made.id)
