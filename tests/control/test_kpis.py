"""KPIs (snapshot, Prometheus, sampled rows), the failure-rate alert, health, and the pure parts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from agency.control.tasks import Orchestrator
from agency.control.tasks import kpis as kpis_module
from agency.control.tasks.kpis import Kpis, TimeHistogram, bucket_of
from agency.control.tasks.locks import LockTable
from agency.control.tasks.queue import TaskQueue
from agency.models import Task, TaskState, TaskSubmit, utcnow
from agency.testing import wait_until


async def test_kpis_metrics_samples_and_failure_alert(orch: Orchestrator) -> None:
    ok = await orch.submit_many([TaskSubmit(kind="noop") for _ in range(5)], "k")
    bad = await orch.submit_many(
        [
            TaskSubmit(kind="noop", spec={"exit_code": 2}, retry={"max_attempts": 1})
            for _ in range(12)
        ],
        "k",
    )
    await orch.run_burst(timeout=30)
    snap = orch.kpis()
    assert snap["by_state"]["succeeded"] >= len(ok) and snap["by_state"]["failed"] >= len(bad)
    assert (
        snap["tasks_per_min"] > 0
        and snap["queue_p50_ms"] is not None
        and snap["run_p95_ms"] is not None
    )
    assert 0 < snap["success_rate"] < 1 and snap["active_workers"] == 3 and snap["queue_depth"] == 0
    assert set(snap["windows"]) == {"1m", "5m"} and "ts" in snap
    assert orch.health()["status"] == "healthy"
    # the alert is raised by the sweep (every second), once for the episode
    await wait_until(orch, lambda: orch.alerts.is_open("failure-rate::"), timeout=5)
    more = await orch.submit_many(
        [
            TaskSubmit(kind="noop", spec={"exit_code": 2}, retry={"max_attempts": 1})
            for _ in range(3)
        ],
        "k",
    )
    await orch.run_burst(timeout=30)
    assert more
    rows = await orch.repos.store.fetch("SELECT kind FROM alerts WHERE kind = 'failure-rate'")
    assert len(rows) == 1
    # KPI samples land in the database every kpi_sample_interval (0.5 s here)
    for _ in range(40):
        samples = await orch.repos.store.fetch("SELECT * FROM kpi_samples")
        if samples:
            break
        await orch.book.wait_change(0.1)
    assert samples and samples[-1]["active_workers"] == 3


def test_prometheus_gauges_follow_state_changes() -> None:
    registry = CollectorRegistry()
    kpis = Kpis(registry)
    kpis.moved(None, TaskState.PENDING)
    kpis.moved(TaskState.PENDING, TaskState.DISPATCHED)
    kpis.dispatched(0.004)
    kpis.finished_task(TaskState.SUCCEEDED, 0.2)
    kpis.moved(TaskState.DISPATCHED, TaskState.SUCCEEDED)
    get = registry.get_sample_value
    assert get("agency_tasks", {"state": "succeeded"}) == 1
    assert get("agency_tasks", {"state": "pending"}) == 0
    assert get("agency_dispatch_latency_seconds_count") == 1
    assert get("agency_tasks_finished_total", {"state": "succeeded"}) == 1


def test_window_percentiles_are_within_two_and_a_half_percent() -> None:
    hist = TimeHistogram()
    assert hist.percentile(0.5) is None
    samples = [0.001, *(float(i) for i in range(1, 1001)), 90_000_000.0]  # 1..1000 ms, and outliers
    hist.add(Counter(bucket_of(ms) for ms in samples), 1)
    exact = sorted(samples)
    for q in (0.5, 0.95):
        want = exact[round(q * (len(exact) - 1))]
        got = hist.percentile(q)
        assert got is not None and abs(got - want) <= 0.025 * want, (q, got, want)
    assert hist.percentile(0.0) == 0.0  # below 0.01 ms


def test_a_window_forgets_what_left_it(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(kpis_module.time, "time", lambda: clock[0])
    kpis = Kpis(CollectorRegistry())
    kpis.finished_task(TaskState.FAILED, 2.0)
    kpis.dispatched(0.5)
    clock[0] += 30
    kpis.finished_task(TaskState.SUCCEEDED, 0.1)
    assert kpis.window(60.0)["tasks_per_min"] == 2.0 and kpis.failure_rate(300.0) == (0.5, 2)
    clock[0] += 45  # the first second is past the 1-minute window, not the 5-minute one
    one, five = kpis.window(60.0), kpis.window(300.0)
    assert (
        one["tasks_per_min"] == 1.0 and one["success_rate"] == 1.0 and one["queue_p50_ms"] is None
    )
    assert abs((one["run_p95_ms"] or 0) - 100.0) <= 2.5
    assert (
        five["tasks_per_min"] == 2 * 60 / 300 and abs((five["queue_p50_ms"] or 0) - 500.0) <= 12.5
    )
    clock[0] += 300
    assert kpis.window(300.0)["tasks_per_min"] == 0.0 and kpis.failure_rate(300.0) == (None, 0)


def _task(i: int, priority: int = 0, not_before_s: float | None = None) -> Task:
    now = utcnow()
    return Task(
        id=f"t{i}",
        kind="noop",
        spec={},
        priority=priority,
        created_at=now + timedelta(seconds=i),
        not_before=None if not_before_s is None else now + timedelta(seconds=not_before_s),
    )


def test_queue_orders_by_priority_then_age_and_holds_delayed_tasks() -> None:
    q = TaskQueue()
    now = utcnow().timestamp()
    q.push(_task(1), now)
    q.push(_task(2, priority=5), now)
    q.push(_task(3), now)
    q.push(_task(4, priority=9, not_before_s=30), now)
    q.remove("t3")
    assert [q.pop(now), q.pop(now), q.pop(now)] == ["t2", "t1", None]
    assert q.next_ready_at() is not None and len(q) == 1
    assert q.pop(now + 31) == "t4"


def test_locks_are_all_or_nothing_and_wake_their_waiters() -> None:
    locks = LockTable()
    assert locks.acquire("a", ["x", "y"]) == []
    assert locks.acquire("b", ["y", "z"]) == ["y"]  # nothing taken: z stays free
    assert locks.holder("z") is None
    assert locks.acquire("c", ["z"]) == []
    assert locks.release("a", ["x", "y"]) == {"b"}
    assert locks.acquire("b", ["y", "z"]) == ["z"]
    assert locks.release("c", ["z"]) == {"b"}
    assert locks.acquire("b", ["y", "z"]) == [] and locks.held() == {"y": "b", "z": "b"}


def test_cancels_count_as_throughput_but_not_as_failures() -> None:
    kpis = Kpis(CollectorRegistry())
    for _ in range(3):
        kpis.finished_task(TaskState.CANCELED, None)
    assert kpis.failure_rate(300.0) == (None, 0)
    kpis.finished_task(TaskState.SUCCEEDED, 0.1)
    kpis.finished_task(TaskState.FAILED, 0.1)
    assert kpis.failure_rate(300.0) == (0.5, 2)
    window = kpis.window(60.0)
    assert window["success_rate"] == 0.5
    assert window["tasks_per_min"] == 5.0  # every finish, the three cancels included
