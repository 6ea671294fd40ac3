"""The Schedules page's data: times in a schedule's own zone, outcomes, templates, and the
sentences the confirmations and the cron preview show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agency.errors import ValidationFailed
from agency.models import ScheduleFireOut, SkipReason, TaskState
from agency_dashboards.data import schedules as sd

T = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)


def test_times_read_in_the_schedules_zone() -> None:
    assert sd.local(T, "Europe/Berlin") == "2026-07-01 02:30:00 CEST"
    assert sd.local("2026-01-01T01:30:00Z", "Europe/Berlin") == "2026-01-01 02:30:00 CET"
    assert sd.local(None, "UTC") == sd.local(float("nan"), "UTC") == "-"
    assert sd.until(T + timedelta(seconds=42), T) == "in 42 s"
    assert sd.until(T + timedelta(minutes=3, seconds=5), T) == "in 3 min 5 s"
    assert sd.until(T + timedelta(hours=3, minutes=5), T) == "in 3 h 5 min"
    assert sd.until(T + timedelta(days=2, hours=4), T) == "in 2 d 4 h"
    assert sd.until(T - timedelta(seconds=5), T) == "in 0 s"


def test_outcomes() -> None:
    fire = ScheduleFireOut(schedule_id="s", slot=T)
    assert sd.outcome(fire) == "recorded, task not confirmed"
    assert sd.outcome(fire.model_copy(update={"task_id": "t"})) == "submitted"
    done = fire.model_copy(update={"task_id": "t", "state": TaskState.FAILED})
    assert sd.outcome(done) == "failed"
    skipped = fire.model_copy(update={"skipped_reason": SkipReason.OVERLAP})
    assert sd.outcome(skipped) == "skipped: overlap"


def test_templates_and_confirmations() -> None:
    assert sd.template("shell", "make  backup") == {"kind": "shell", "spec": {"argv": ["make", "backup"]}}
    assert sd.template("agent", "tidy up") == {"kind": "agent", "spec": {"prompt": "tidy up"}}
    assert sd.template("noop", "ignored") == {"kind": "noop", "spec": {}}
    row = {"name": "nightly", "overlap": "forbid", "next_fire": "2026-07-02 02:30:00 CEST"}
    assert "skipped if the previous run" in sd.confirm_text("trigger", row)
    assert "canceled first" in sd.confirm_text("trigger", {**row, "overlap": "replace"})
    assert "not caught up" in sd.confirm_text("pause", row) and "02:30" in sd.confirm_text("pause", row)
    assert sd.confirm_text("resume", row).startswith("Resume **nightly**")


def test_preview_text() -> None:
    assert sd.Preview([]).markdown() == ""
    assert sd.Preview(["a", "b"]).markdown() == "Next fires: a; b"
    bad = ValidationFailed(
        "invalid request",
        details={"errors": [{"loc": ["body", "cron"], "msg": "Value error, not valid"}]},
    )
    assert sd.Preview([], sd._first_problem(bad)).markdown() == "**Not a schedule:** cron: Value error, not valid"
    assert sd._first_problem(ValidationFailed("plain")) == "plain"
