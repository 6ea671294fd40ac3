"""The timelines' data: a task's attempts from its events (waits, refused dispatches, a task
canceled while queued, one still running), the figures' words, and the fleet's delta merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agency.models import TaskState
from agency.models.timeline import TimelineBar, WorkerTimeline, command_text
from agency_dashboards.data import fleet
from agency_dashboards.data import timeline as tl

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def ev(seconds: float, to: str, frm: str | None = None, **details: Any) -> dict[str, Any]:
    return {
        "ts": (T0 + timedelta(seconds=seconds)).isoformat(),
        "action": f"task.{to}",
        "details": {"to": to, "from": frm, **details},
    }


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


RETRIED = [
    ev(0, "pending"),
    ev(1, "dispatched", "pending", attempt=1, worker_id="w1", dispatched_at=at(1)),
    ev(1.5, "running", "dispatched", attempt=1, started_at=at(1.4)),
    ev(4, "failed", "running", attempt=1, reason="exit code 7", finished_at=at(3.9)),
    ev(4, "pending", "failed", attempt=1, reason="retry: exit code 7"),
    # the worker refused this dispatch (full): no attempt, the wait goes on
    ev(5, "dispatched", "pending", attempt=2, worker_id="w2", dispatched_at=at(5)),
    ev(5.1, "pending", "dispatched", attempt=1),
    ev(6, "dispatched", "pending", attempt=2, worker_id="w1", dispatched_at=at(6)),
    ev(6.5, "running", "dispatched", attempt=2, started_at=at(6.5)),
    ev(9.5, "succeeded", "running", attempt=2, finished_at=at(9.5)),
]


def test_a_retried_task_in_attempts_with_their_waits_and_runs() -> None:
    ps = tl.phases(RETRIED)
    assert [(p.attempt, p.worker_id, p.outcome) for p in ps] == [
        (1, "w1", "failed"),
        (2, "w1", "succeeded"),
    ]
    now = T0 + timedelta(hours=1)
    assert ps[0].wait_s(now) == 1.0 and ps[0].run_s(now) == 2.5
    assert ps[1].wait_s(now) == 2.0, "the refused dispatch is part of the wait"
    assert tl.phase_line(ps[0], 3, now) == (
        "attempt 1/3: waited 1.00 s, ran 2.50 s on w1, failed (exit code 7)"
    )
    assert tl.phase_line(ps[1], 3, now) == "attempt 2/3: waited 2.00 s, ran 3.00 s on w1, succeeded"
    assert tl.totals_line(ps, now) == (
        "in all: waited 3.00 s, ran 5.50 s over 2 attempts; 9.50 s from queued to the end"
    )
    bars = tl.phase_frame(ps, now)
    assert list(bars["part"]) == [
        "queue wait",
        "starting",
        "run (failed)",
        "queue wait",
        "starting",
        "run (succeeded)",
    ]
    assert not bars["open"].any()
    assert bars.iloc[0]["color"] == tl.WAIT_COLOR != bars.iloc[2]["color"]


def test_a_waiting_task_a_running_one_and_one_canceled_in_the_queue() -> None:
    now = T0 + timedelta(seconds=30)
    (waiting,) = tl.phases([ev(0, "pending")])
    assert waiting.dispatched_at is None and waiting.ended_at is None
    assert tl.phase_line(waiting, 1, now) == "attempt 1/1: waiting for 30.0 s so far"
    running = tl.phases(RETRIED[:3])
    assert tl.phase_line(running[0], 3, now) == (
        "attempt 1/3: waited 1.00 s, running for 28.6 s on w1"
    )
    assert list(tl.phase_frame(running, now)["open"]) == [False, False, True]
    (canceled,) = tl.phases([ev(0, "pending"), ev(2, "canceled", "pending", reason="no")])
    assert (
        tl.phase_line(canceled, 3, now) == "attempt 1/3: waited 2.00 s, then canceled before it ran"
    )


def test_words_for_durations_and_commands() -> None:
    assert [tl.seconds_text(s) for s in (0.012, 1.234, 12.34, 185, 7500)] == [
        "12 ms",
        "1.23 s",
        "12.3 s",
        "3 min 05 s",
        "2 h 05 min",
    ]
    assert (
        command_text("shell", {"argv": ["sh", "-c", "echo 'a b'"]})
        == "sh -c 'echo '\"'\"'a b'\"'\"''"
    )
    assert command_text("agent", {"prompt": "fix\n  the   bug"}) == "fix the bug"
    assert len(command_text("shell", {"argv": ["x" * 500]})) == 200


def bar(
    task: str, attempt: int, start: float, end: float | None, worker: str = "w1"
) -> TimelineBar:
    return TimelineBar(
        worker_id=worker,
        task_id=task,
        attempt=attempt,
        kind="shell",
        command="true",
        state=TaskState.SUCCEEDED if end is not None else TaskState.RUNNING,
        started_at=T0 + timedelta(seconds=start),
        finished_at=None if end is None else T0 + timedelta(seconds=end),
    )


class FakeClient:
    """Answers ``worker_timeline`` from a list and records the windows asked for."""

    def __init__(self) -> None:
        self.items: list[TimelineBar] = []
        self.asked: list[tuple[datetime, datetime]] = []

    def worker_timeline(self, since: datetime, until: datetime, limit: int) -> WorkerTimeline:
        self.asked.append((since, until))
        got = [
            b
            for b in self.items
            if b.started_at < until and (b.finished_at is None or b.finished_at >= since)
        ]
        return WorkerTimeline(since=since, until=until, items=got)


def test_the_fleet_reads_only_what_changed_and_forgets_what_left() -> None:
    client = FakeClient()
    client.items = [bar("old", 1, 0, 10), bar("a", 1, 600, 610), bar("b", 1, 620, None, "w2")]
    bars = fleet.FleetBars(minutes=15)
    now = T0 + timedelta(seconds=1000)
    bars.load(client, now)  # type: ignore[arg-type]
    assert set(bars.bars) == {("a", 1), ("b", 1)} and bars.workers() == ["w1", "w2"]
    # b ended, c started; and a refused dispatch d was in flight at the last read
    bars.bars[("d", 1)] = bar("d", 1, 640, None)
    client.items = [bar("a", 1, 600, 610), bar("b", 1, 620, 998, "w2"), bar("c", 1, 990, None)]
    later = now + timedelta(seconds=5)
    bars.update(client, later)  # type: ignore[arg-type]
    assert client.asked[-1] == (now - fleet.OVERLAP, later), "a delta read, not the window"
    assert set(bars.bars) == {("a", 1), ("b", 1), ("c", 1)}
    assert bars.bars[("b", 1)].finished_at is not None
    frame = bars.frame(later)
    assert list(frame["task_id"]) == ["a", "b", "c"] and list(frame["open"]) == [False, False, True]
    # later, a ended out of the window; b has not yet, c is still in flight
    bars.update(client, T0 + timedelta(seconds=600 + 15 * 60 + 30))  # type: ignore[arg-type]
    assert set(bars.bars) == {("b", 1), ("c", 1)}
