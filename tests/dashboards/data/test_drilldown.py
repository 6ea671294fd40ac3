"""The drill-down's data: the timeline and the cancel lifecycle's steps."""

from __future__ import annotations

import pandas as pd

from agency_dashboards.data import drilldown as dd


def _timeline(*actions: str) -> pd.DataFrame:
    return dd.timeline_rows(
        [
            {"seq": i, "ts": f"2026-01-01T00:00:0{i}", "actor": "op", "action": a, "details": {}}
            for i, a in enumerate(actions)
        ]
    )


def test_cancel_steps_follow_the_lifecycle() -> None:
    assert dd.cancel_steps(_timeline("task.created", "task.running"), "running") == []
    marks = [
        m
        for _, m, _ in dd.cancel_steps(
            _timeline("task.created", "task.running", "task.cancel_requested"), "cancel_requested"
        )
    ]
    assert marks == ["✓", "…", "○"]
    done = dd.cancel_steps(
        _timeline("task.running", "task.cancel_requested", "task.canceling", "task.canceled"),
        "canceled",
    )
    assert [m for _, m, _ in done] == ["✓", "✓", "✓"]
    raced = dd.cancel_steps(
        _timeline("task.running", "task.cancel_requested", "task.succeeded"), "succeeded"
    )
    assert [m for _, m, _ in raced] == ["✓", "✗", "○"]


def test_why_a_task_waits_in_plain_words() -> None:
    task = {
        "state": "pending",
        "waiting_for": ["labels:gpu=h100", "budget:b1", "lock-a", "breaker:w1"],
        "locks": ["lock-a"],
    }
    words = dd.waiting_words(task, queue_paused=True)
    assert words == (
        "the queue is paused; no worker carries the labels gpu=h100; budget b1 is reached; "
        "lock lock-a is held by another task; the circuit breaker of worker w1 is open"
    )
    assert dd.waiting_words({"state": "running", "waiting_for": ["x"]}) == ""
    assert "paused" in dd.waiting_words({"state": "paused"})
