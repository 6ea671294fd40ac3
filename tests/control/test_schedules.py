"""``ScheduleService`` in process: a real DuckDB file, a real orchestrator (with a real worker
where a task must really run), and a clock the test moves instead of sleeping."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from agency.control.schedule_plan import fire_key, jitter
from agency.control.schedules import ScheduleService
from agency.control.tasks import Orchestrator
from agency.errors import Conflict, InvalidSpec, NotFound, ServiceUnavailable, ValidationFailed
from agency.fleet import Registry
from agency.models import (
    Event,
    ScheduleEdit,
    ScheduleFire,
    ScheduleIn,
    SkipReason,
    Task,
    TaskState,
    TaskSubmit,
)
from agency.settings import Settings
from agency.storage import Repositories, Store
from agency.testing import (
    Heartbeats,
    WorkerProc,
    quick_settings,
    register,
    start_worker,
    wait_until,
)

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
NOOP = {"kind": "noop", "spec": {}}
LONG = {"kind": "noop", "spec": {"sleep": 120}}


class Clock:
    """The service's clock: ``now`` is whatever the test says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Plane:
    settings: Settings
    repos: Repositories
    orch: Orchestrator
    clock: Clock
    svc: ScheduleService
    metrics: CollectorRegistry

    @property
    def store(self) -> Store:
        return self.repos.store

    async def restart(self, tasks: Any = None) -> ScheduleService:
        """A new service over the same database, as after a restart of the control plane."""
        self.metrics = CollectorRegistry()
        self.svc = ScheduleService(
            self.repos.schedules, tasks or self.orch, self.settings, self.metrics, clock=self.clock
        )
        await self.svc.open()
        return self.svc

    async def create(self, name: str, cron: str, **extra: Any) -> str:
        body = ScheduleIn.model_validate({"name": name, "cron": cron, "task": NOOP, **extra})
        return (await self.svc.create(body, "ann")).id

    async def at(self, now: datetime) -> list[ScheduleFire]:
        self.clock.now = now
        return await self.svc.tick(now)

    async def run_until(self, end: datetime) -> list[ScheduleFire]:
        """What the ticker does, without its sleeps: tick at each due time until ``end``."""
        decided: list[ScheduleFire] = []
        while (due := self.svc.next_due()) is not None and due <= end:
            decided += await self.at(due)
        return decided

    async def events(self, schedule_id: str) -> list[Event]:
        rows = await self.store.fetch(
            "SELECT * FROM events WHERE resource_type = 'schedule' AND resource_id = ? ORDER BY seq",
            [schedule_id],
        )
        return [Event.model_validate(r) for r in rows]

    async def tasks_of(self, name: str) -> list[Task]:
        rows = await self.store.fetch(
            "SELECT * FROM tasks WHERE json_extract_string(labels, '$.schedule') = ? "
            "ORDER BY created_at",
            [name],
        )
        return [Task.model_validate(r) for r in rows]


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    settings = quick_settings(tmp_path, schedule_misfire_grace=5.0)
    repos = await Repositories.open(settings.database_path)
    orch = Orchestrator(settings, repos, Registry(settings))
    await orch.start()
    clock = Clock(T0)
    metrics = CollectorRegistry()
    svc = ScheduleService(repos.schedules, orch, settings, metrics, clock=clock)
    await svc.open()
    try:
        yield Plane(settings, repos, orch, clock, svc, metrics)
    finally:
        await orch.stop()
        await repos.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProc]:
    w = start_worker(tmp_path_factory.mktemp("sw"), capacity=4, worker_id="sw", sandbox="off")
    yield w
    w.stop()


@pytest.fixture
async def worked(plane: Plane, worker: WorkerProc) -> AsyncIterator[Plane]:
    """``plane`` with a real worker registered and heartbeating."""
    await register(plane.orch, [worker], 4)
    async with Heartbeats(plane.orch, [worker], plane.settings.heartbeat_interval):
        try:
            yield plane
        finally:
            for task in list(plane.orch.book.tasks.values()):
                if not task.state.terminal:
                    await plane.orch.cancel(task.id, "cleanup")


def state(plane: Plane, task_id: str | None) -> TaskState | None:
    assert task_id is not None
    task = plane.orch.book.latest(task_id)
    return None if task is None else task.state


# --- firing --------------------------------------------------------------------------------


async def test_each_fire_is_a_labelled_idempotent_task(plane: Plane) -> None:
    sid = await plane.create("every-minute", "* * * * *", task={**NOOP, "labels": {"team": "a"}})
    assert await plane.at(T0 + 30 * timedelta(seconds=1)) == []
    [fire] = await plane.at(T0 + MIN)
    assert fire.slot == T0 + MIN and fire.task_id and fire.skipped_reason is None
    task = await plane.orch.get(fire.task_id)
    assert task.idempotency_key == f"schedule:{sid}:2026-01-05T12:01:00Z" == fire_key(sid, T0 + MIN)
    assert task.labels == {"team": "a", "schedule": "every-minute"}
    assert task.created_by == "scheduler"
    assert await plane.at(T0 + MIN + timedelta(seconds=20)) == []  # decided once
    view = await plane.svc.get("every-minute")
    assert view.next_fires == [T0 + i * MIN for i in range(2, 7)]
    assert view.last_fire is not None and view.last_fire.task_id == fire.task_id
    assert view.last_fire.state == TaskState.PENDING
    fired = [e for e in await plane.events(sid) if e.action == "schedule.fired"]
    assert fired[0].details["task_id"] == fire.task_id and fired[0].details["recovered"] is False
    assert (
        plane.metrics.get_sample_value("agency_schedule_fires_total", {"schedule": "every-minute"})
        == 1.0
    )
    assert (
        plane.metrics.get_sample_value(
            "agency_schedule_next_fire_timestamp_seconds", {"schedule": "every-minute"}
        )
        == (T0 + 2 * MIN).timestamp()
    )


@pytest.mark.parametrize(
    ("policy", "max_catchup", "runs", "reason"),
    [
        ("skip", 10, [], SkipReason.MISSED),
        ("latest", 10, [10], SkipReason.CAUGHT_UP),
        ("all", 4, [7, 8, 9, 10], SkipReason.CATCHUP_LIMIT),
        ("all", 20, list(range(1, 11)), None),
    ],
)
async def test_catchup_after_ten_missed_slots(
    plane: Plane, policy: str, max_catchup: int, runs: list[int], reason: SkipReason | None
) -> None:
    sid = await plane.create("c", "* * * * *", catchup=policy, max_catchup=max_catchup)
    # the control plane is down from T0 to 10.5 minutes later: slots 1..10 are missed
    svc = await plane.restart()
    plane.clock.now = T0 + 10 * MIN + timedelta(seconds=30)
    decided = await svc.tick()
    assert [f.slot for f in decided] == [T0 + i * MIN for i in range(1, 11)]
    fired = [f for f in decided if f.task_id]
    assert [f.slot for f in fired] == [T0 + i * MIN for i in runs]
    assert {f.skipped_reason for f in decided if not f.task_id} == ({reason} if reason else set())
    tasks = await plane.tasks_of("c")
    assert sorted(t.idempotency_key or "" for t in tasks) == sorted(
        fire_key(sid, T0 + i * MIN) for i in runs
    )
    [caught] = [e for e in await plane.events(sid) if e.action == "schedule.caught_up"]
    assert caught.details["policy"] == policy and caught.details["missed"] == 10
    assert caught.details["skipped"] == 10 - len(runs)
    page = await svc.fires("c", limit=100)
    assert len(page.items) == 10  # every missed slot is recorded, fired or skipped
    # after the catch-up the schedule is back on time
    [nxt] = await plane.at(T0 + 11 * MIN)
    assert nxt.task_id and nxt.lateness == 0.0
    assert len(await plane.tasks_of("c")) == len(runs) + 1


async def test_overlap_forbid_skips_while_the_previous_run_is_running(worked: Plane) -> None:
    p = worked
    sid = await p.create("f", "* * * * *", overlap="forbid", task=LONG)
    [first] = await p.at(T0 + MIN)
    await wait_until(p.orch, lambda: state(p, first.task_id) == TaskState.RUNNING)
    [second] = await p.at(T0 + 2 * MIN)
    assert second.task_id is None and second.skipped_reason == SkipReason.OVERLAP
    skipped = [e for e in await p.events(sid) if e.action == "schedule.skipped"]
    assert skipped[0].details["running"] == [first.task_id]
    assert len(await p.tasks_of("f")) == 1
    # once the run is final the next slot fires again
    await p.orch.cancel(first.task_id or "", "ann")
    await wait_until(p.orch, lambda: state(p, first.task_id) == TaskState.CANCELED)
    [third] = await p.at(T0 + 3 * MIN)
    assert third.task_id is not None


async def test_overlap_replace_cancels_the_previous_run_visibly(worked: Plane) -> None:
    p = worked
    sid = await p.create("r", "* * * * *", overlap="replace", task=LONG)
    [first] = await p.at(T0 + MIN)
    await wait_until(p.orch, lambda: state(p, first.task_id) == TaskState.RUNNING)
    [second] = await p.at(T0 + 2 * MIN)
    assert second.task_id and second.task_id != first.task_id
    await wait_until(p.orch, lambda: state(p, first.task_id) == TaskState.CANCELED)
    old = await p.orch.get(first.task_id or "")
    assert old.reason and "replaced by the 2026-01-05T12:02:00Z run of schedule r" in old.reason
    [replaced] = [e for e in await p.events(sid) if e.action == "schedule.replaced"]
    assert replaced.details["canceled"] == [first.task_id]
    actions = [e.action for e in await p.events(sid)]
    assert actions.index("schedule.replaced") < len(actions) - 1  # then the new run fired
    await wait_until(p.orch, lambda: state(p, second.task_id) == TaskState.RUNNING)


async def test_schedules_sharing_a_lock_queue_visibly(worked: Plane) -> None:
    p = worked
    template = {**LONG, "locks": ["workspace-1"]}
    await p.create("a", "* * * * *", task=template)
    await p.create("b", "* * * * *", task=template)
    fires = await p.at(T0 + MIN)
    ids = [f.task_id or "" for f in fires]
    assert len(ids) == 2 and all(ids)

    def one_runs_one_waits() -> bool:
        tasks = [p.orch.book.latest(i) for i in ids]
        states = sorted(t.state.value for t in tasks if t is not None)
        waiting = [t for t in tasks if t is not None and t.waiting_for == ["workspace-1"]]
        return states == ["pending", "running"] and len(waiting) == 1

    await wait_until(p.orch, one_runs_one_waits)
    rows = await p.store.fetch(
        "SELECT resource_id, details FROM events WHERE action = 'task.waiting' AND resource_id IN (?, ?)",
        ids,
    )
    assert rows and rows[0]["details"]["waiting_for"] == ["workspace-1"]
    # and the schedule whose run waits shows it
    views = [await p.svc.get(name) for name in ("a", "b")]
    waits = [v.last_fire.waiting_for for v in views if v.last_fire is not None]
    assert sorted(waits) == [[], ["workspace-1"]]
    listed = {v.name: v.last_fire for v in await p.svc.all()}
    assert sorted(f.waiting_for for f in listed.values() if f is not None) == sorted(waits)


# --- time: DST, pause, edit, jitter --------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "cron", "start", "expected"),
    [
        # a daily 02:30: the 29th has no 02:30 (runs at 03:00), the 25th has two (runs once)
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 3, 28),
            ["28 02:30", "29 03:00", "30 02:30"],
        ),
        (
            "Europe/Berlin",
            "30 2 * * *",
            datetime(2026, 10, 24),
            ["24 02:30", "25 02:30", "26 02:30"],
        ),
        (
            "America/New_York",
            "30 2 * * *",
            datetime(2026, 3, 7),
            ["07 02:30", "08 03:00", "09 02:30"],
        ),
        (
            "America/New_York",
            "30 1 * * *",
            datetime(2026, 10, 31),
            ["31 01:30", "01 01:30", "02 01:30"],
        ),
    ],
)
async def test_dst_neither_skips_nor_doubles_a_daily_run(
    plane: Plane, zone: str, cron: str, start: datetime, expected: list[str]
) -> None:
    plane.clock.now = start.replace(tzinfo=UTC)
    await plane.create("d", cron, timezone=zone)
    fires = await plane.run_until(plane.clock.now + timedelta(days=3))
    tz = ZoneInfo(zone)
    assert [f.slot.astimezone(tz).strftime("%d %H:%M") for f in fires] == expected
    assert all(f.task_id and f.lateness == 0.0 for f in fires)


@pytest.mark.parametrize("day", [datetime(2026, 3, 8), datetime(2026, 11, 1)])
async def test_dst_hourly_runs_every_real_hour_once(plane: Plane, day: datetime) -> None:
    tz = ZoneInfo("America/New_York")
    begin = day.replace(tzinfo=tz).astimezone(UTC)
    end = (day + timedelta(days=1)).replace(tzinfo=tz).astimezone(UTC)
    plane.clock.now = begin - timedelta(seconds=1)
    await plane.create("h", "0 * * * *", timezone="America/New_York")
    fires = await plane.run_until(end - timedelta(seconds=1))
    slots = [f.slot for f in fires]
    assert len(slots) == (end - begin) // timedelta(hours=1) == (23 if day.month == 3 else 25)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(slots))
    assert len({f.task_id for f in fires}) == len(fires)


async def test_pause_stops_fires_and_resume_does_not_catch_up(plane: Plane) -> None:
    sid = await plane.create("p", "* * * * *")
    assert len(await plane.at(T0 + MIN)) == 1
    plane.clock.now = T0 + 90 * timedelta(seconds=1)
    view = await plane.svc.pause("p", "ann", "maintenance")
    assert view.paused and view.next_fires == []
    assert await plane.at(T0 + 2 * MIN) == [] and await plane.at(T0 + 5 * MIN) == []
    assert plane.svc.next_due() is None
    plane.clock.now = T0 + 5 * MIN + timedelta(seconds=30)
    view = await plane.svc.resume("p", "ann")
    assert not view.paused and view.next_fires[0] == T0 + 6 * MIN
    assert await plane.at(T0 + 5 * MIN + timedelta(seconds=40)) == []
    [fire] = await plane.at(T0 + 6 * MIN)
    assert fire.slot == T0 + 6 * MIN
    slots = [f.slot for f in (await plane.svc.fires("p")).items]
    assert slots == [T0 + 6 * MIN, T0 + MIN]
    actions = [e.action for e in await plane.events(sid)]
    assert actions == [
        "schedule.created",
        "schedule.fired",
        "schedule.paused",
        "schedule.resumed",
        "schedule.fired",
    ]
    paused = [e for e in await plane.events(sid) if e.action == "schedule.paused"]
    assert paused[0].details["reason"] == "maintenance" and paused[0].actor == "ann"
    # the pause survives a restart
    await plane.svc.pause("p", "ann")
    svc = await plane.restart()
    assert (await svc.get("p")).paused and await plane.at(T0 + 9 * MIN) == []


async def test_an_edit_takes_effect_from_the_next_slot(plane: Plane) -> None:
    sid = await plane.create("e", "*/10 * * * *", task={**NOOP, "labels": {"v": "1"}})
    [first] = await plane.at(T0 + 10 * MIN)
    plane.clock.now = T0 + 12 * MIN
    edit = ScheduleEdit.model_validate(
        {"cron": "*/3 * * * *", "task": {**NOOP, "labels": {"v": "2"}}}
    )
    view = await plane.svc.edit(sid, edit, "bob")
    assert view.revision == 2 and view.cron == "*/3 * * * *"
    assert view.next_fires[0] == T0 + 15 * MIN  # not 12:12, the slot of the edit itself
    [second] = await plane.at(T0 + 15 * MIN)
    assert (first.revision, second.revision) == (1, 2)
    labels = [(await plane.orch.get(f.task_id or "")).labels["v"] for f in (first, second)]
    assert labels == ["1", "2"]
    revisions = await plane.svc.revisions("e")
    assert [(r.revision, r.cron, r.created_by) for r in revisions] == [
        (1, "*/10 * * * *", "ann"),
        (2, "*/3 * * * *", "bob"),
    ]
    [edited] = [e for e in await plane.events(sid) if e.action == "schedule.edited"]
    assert edited.details["revision"] == 2 and edited.details["changed"] == ["cron", "task"]
    # a slot already due when an edit lands fires by the revision it was due under
    plane.clock.now = T0 + 18 * MIN + timedelta(seconds=2)
    await plane.svc.edit(sid, ScheduleEdit(cron="0 * * * *"), "bob")
    rows = (await plane.svc.fires("e")).items
    assert (rows[0].slot, rows[0].revision) == (T0 + 18 * MIN, 2)
    assert (await plane.svc.get(sid)).next_fires[0] == T0 + 60 * MIN


async def test_jitter_delays_each_slot_by_a_fixed_amount(plane: Plane) -> None:
    sid = await plane.create("j", "* * * * *", jitter_seconds=30)
    schedule = (await plane.svc.get(sid)).model_copy()
    delay = jitter(schedule, T0 + MIN)
    assert timedelta(0) < delay <= timedelta(seconds=30)
    assert plane.svc.next_due() == T0 + MIN + delay
    assert await plane.at(T0 + MIN + delay - timedelta(milliseconds=1)) == []
    [fire] = await plane.at(T0 + MIN + delay)
    assert fire.slot == T0 + MIN and fire.lateness == 0.0


async def test_trigger_fires_now_under_the_overlap_policy(plane: Plane) -> None:
    sid = await plane.create("t", "0 0 1 1 *", overlap="forbid", paused=True)
    plane.clock.now = T0 + timedelta(seconds=7)
    fire = await plane.svc.trigger("t", "ann", "by hand")
    assert fire.manual and fire.task_id and fire.state == TaskState.PENDING
    task = await plane.orch.get(fire.task_id)
    assert task.idempotency_key == f"schedule:{sid}:manual:2026-01-05T12:00:07Z"
    assert task.created_by == "ann"
    plane.clock.now = T0 + timedelta(seconds=8)
    again = await plane.svc.trigger("t", "ann")  # the first is not final (no worker here)
    assert again.skipped_reason == SkipReason.OVERLAP and again.task_id is None
    assert (
        plane.metrics.get_sample_value(
            "agency_schedule_skips_total", {"schedule": "t", "reason": "overlap"}
        )
        == 1.0
    )


# --- crashes and bad input -----------------------------------------------------------------


class Crash(BaseException):
    """The process dying: nothing after it runs."""


class CrashingTasks:
    """The orchestrator, except that ``submit`` dies before it, or after it returned."""

    def __init__(self, orch: Orchestrator, after: bool) -> None:
        self.orch, self.after = orch, after
        self.submitted: list[Task] = []

    async def submit(self, req: TaskSubmit, actor: str) -> Task:
        if self.after:
            self.submitted.append(await self.orch.submit(req, actor))
        raise Crash

    async def submit_many(self, reqs: list[TaskSubmit], actor: str) -> list[Task]:
        return [await self.submit(r, actor) for r in reqs]

    async def cancel(self, task_id: str, actor: str, reason: str | None = None) -> Task:
        return await self.orch.cancel(task_id, actor, reason)

    async def get(self, task_id: str) -> Task:
        return await self.orch.get(task_id)


@pytest.mark.parametrize("after", [False, True], ids=["before-submit", "after-submit"])
async def test_a_crash_during_a_fire_still_gives_one_task(plane: Plane, after: bool) -> None:
    sid = await plane.create("k", "* * * * *")
    crashing = CrashingTasks(plane.orch, after)
    svc = await plane.restart(crashing)
    plane.clock.now = T0 + MIN
    with pytest.raises(Crash):
        await svc.tick()
    rows = await plane.store.fetch("SELECT * FROM schedule_fires")
    assert len(rows) == 1 and rows[0]["task_id"] is None  # recorded, not confirmed
    for _ in range(2):  # restarting twice changes nothing more
        svc = await plane.restart()
        plane.clock.now += timedelta(seconds=5)
        assert await svc.tick() == []
        tasks = await plane.tasks_of("k")
        assert [t.idempotency_key for t in tasks] == [fire_key(sid, T0 + MIN)]
        if after:
            assert tasks[0].id == crashing.submitted[0].id
        [fire] = (await svc.fires("k")).items
        assert fire.task_id == tasks[0].id
    fired = [e for e in await plane.events(sid) if e.action == "schedule.fired"]
    assert len(fired) == 1 and fired[0].details["recovered"] is True


async def test_bad_input_names_the_field(plane: Plane) -> None:
    cases = {
        "cron": {"cron": "* * * *"},
        "timezone": {"timezone": "Mars/Olympus"},
        "task.spec": {"task": {"kind": "shell", "spec": {"argv": []}}},
        "task.kind": {"task": {"kind": "warp"}},
        "end_at": {"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"},
    }
    for field, change in cases.items():
        with pytest.raises(ValidationError) as err:
            ScheduleIn.model_validate({"name": "x", "cron": "* * * * *", "task": NOOP, **change})
        assert [".".join(map(str, e["loc"])) for e in err.value.errors()] == [field]
    await plane.create("x", "* * * * *", start_at="2026-02-01T00:00:00Z")
    with pytest.raises(Conflict) as dup:
        await plane.create("x", "0 * * * *")
    assert dup.value.details["field"] == "name"
    with pytest.raises(ValidationFailed) as bad:
        await plane.svc.edit("x", ScheduleEdit(end_at=datetime(2026, 1, 1, tzinfo=UTC)), "ann")
    assert bad.value.details["errors"][0]["loc"] == ["body", "end_at"]
    with pytest.raises(NotFound):
        await plane.svc.get("nope")


# --- many schedules due at once ---------------------------------------------------------------


class CountingTasks:
    """The orchestrator, counting submissions; ``refuse`` names a schedule whose tasks it
    refuses, ``down`` makes every submission a passing outage."""

    def __init__(self, orch: Orchestrator, refuse: str = "", down: bool = False) -> None:
        self.orch, self.refuse, self.down = orch, refuse, down
        self.batches: list[int] = []

    def _check(self, reqs: list[TaskSubmit]) -> None:
        if self.down:
            raise ServiceUnavailable("the orchestrator is restarting")
        if any(r.labels.get("schedule") == self.refuse for r in reqs):
            raise InvalidSpec("refused for the test")

    async def submit(self, req: TaskSubmit, actor: str) -> Task:
        self._check([req])
        return await self.orch.submit(req, actor)

    async def submit_many(self, reqs: list[TaskSubmit], actor: str) -> list[Task]:
        self._check(reqs)
        self.batches.append(len(reqs))
        return await self.orch.submit_many(reqs, actor)

    async def cancel(self, task_id: str, actor: str, reason: str | None = None) -> Task:
        return await self.orch.cancel(task_id, actor, reason)

    async def get(self, task_id: str) -> Task:
        return await self.orch.get(task_id)


async def test_schedules_due_together_fire_in_one_submission(plane: Plane) -> None:
    for i in range(30):
        await plane.create(f"m{i:02d}", "* * * * *")
    await plane.create("hourly", "0 * * * *")
    counting = CountingTasks(plane.orch)
    svc = await plane.restart(counting)
    decided = await plane.at(T0 + MIN)
    assert counting.batches == [30]  # one transaction for the 30 tasks
    assert [f.schedule_id for f in decided] == [
        (await svc.get(f"m{i:02d}")).id for i in range(30)
    ]  # by schedule name
    assert all(f.task_id and f.slot == T0 + MIN for f in decided)
    keys = {t.idempotency_key for i in range(30) for t in await plane.tasks_of(f"m{i:02d}")}
    assert len(keys) == 30
    view = await svc.get("m07")
    assert view.next_fires[0] == T0 + 2 * MIN and view.last_fire is not None
    assert await plane.at(T0 + MIN + timedelta(seconds=30)) == []  # decided once


async def test_a_refused_task_in_a_batch_does_not_hold_up_the_others(plane: Plane) -> None:
    for name in ("a", "bad", "c"):
        await plane.create(name, "* * * * *")
    svc = await plane.restart(CountingTasks(plane.orch, refuse="bad"))
    decided = {(await svc.get(n)).id: n for n in ("a", "bad", "c")}
    fires = {decided[f.schedule_id]: f for f in await plane.at(T0 + MIN)}
    assert fires["a"].task_id and fires["c"].task_id
    assert fires["bad"].task_id is None and fires["bad"].skipped_reason is SkipReason.SUBMIT_FAILED


async def test_an_outage_during_a_batch_leaves_the_fires_to_the_next_tick(plane: Plane) -> None:
    sids = [await plane.create(name, "* * * * *") for name in ("x", "y")]
    flaky = CountingTasks(plane.orch, down=True)
    await plane.restart(flaky)
    first = await plane.at(T0 + MIN)
    assert [f.task_id for f in first] == [None, None]  # recorded, not confirmed
    flaky.down = False
    assert await plane.at(T0 + MIN + timedelta(seconds=5)) == []  # nothing new is due...
    for sid, name in zip(sids, ("x", "y"), strict=True):
        [task] = await plane.tasks_of(name)  # ...but the recorded fires got their tasks
        assert task.idempotency_key == fire_key(sid, T0 + MIN)
        fired = [e for e in await plane.events(sid) if e.action == "schedule.fired"]
        assert len(fired) == 1 and fired[0].details["recovered"] is True
