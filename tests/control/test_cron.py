"""``CronSlots`` against a brute-force reading of the rules, minute by minute, around the
daylight-saving transitions of three zones (a 30-minute one included), forwards and back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from agency.control.cron import CronSlots, cron_slots

TRANSITIONS = [
    ("Europe/Berlin", datetime(2026, 3, 29)),
    ("Europe/Berlin", datetime(2026, 10, 25)),
    ("America/New_York", datetime(2026, 3, 8)),
    ("America/New_York", datetime(2026, 11, 1)),
    ("Australia/Lord_Howe", datetime(2026, 4, 5)),  # clocks go back 30 minutes
]
EXPRESSIONS = ["0 * * * *", "*/20 * * * *", "30 2 * * *", "0 1 * * *", "15 1,2,3 * * *"]
MINUTE = timedelta(minutes=1)


def reference(expr: str, zone: str, a: datetime, b: datetime) -> list[datetime]:
    """Every instant in (a, b] whose wall time matches, by the rules of ``agency.control.cron``."""
    tz = ZoneInfo(zone)
    every_hour = CronSlots(expr, zone).every_hour
    out: set[datetime] = set()
    t = a
    while t <= b:
        local = t.astimezone(tz)
        wall = local.replace(tzinfo=None)
        twice = (
            wall.replace(tzinfo=tz, fold=0).utcoffset()
            != wall.replace(tzinfo=tz, fold=1).utcoffset()
        )
        if croniter.match(expr, wall) and not (twice and local.fold == 1 and not every_hour):
            out.add(t)
        following = (t + MINUTE).astimezone(tz).replace(tzinfo=None)
        skipped = wall + MINUTE
        while skipped < following:  # wall times the clock jumped over fire after the jump
            if croniter.match(expr, skipped):
                out.add(t + MINUTE)
            skipped += MINUTE
        t += MINUTE
    return sorted(x for x in out if a < x <= b)


@pytest.mark.parametrize(("zone", "day"), TRANSITIONS)
def test_slots_match_the_rules_around_transitions(zone: str, day: datetime) -> None:
    a = (day - timedelta(hours=12)).replace(tzinfo=UTC)
    b = (day + timedelta(hours=12)).replace(tzinfo=UTC)
    for expr in EXPRESSIONS:
        slots = CronSlots(expr, zone)
        expected = reference(expr, zone, a, b)
        forward = list(itertools.takewhile(lambda t: t <= b, slots.after(a)))
        backward = list(itertools.takewhile(lambda t: t > a, slots.until(b)))[::-1]
        assert forward == expected, (zone, expr)
        assert backward == expected, (zone, expr)


def test_an_hourly_job_runs_every_real_hour_and_a_daily_one_once_a_day() -> None:
    berlin = CronSlots("0 * * * *", "Europe/Berlin")
    for day, hours in ((datetime(2026, 3, 29), 23), (datetime(2026, 10, 25), 25)):
        start = day.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC) - timedelta(seconds=1)
        end = (day + timedelta(days=1)).replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
        slots = list(itertools.takewhile(lambda t, end=end: t < end, berlin.after(start)))
        assert len(slots) == hours
        assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(slots))
    daily = CronSlots("30 2 * * *", "Europe/Berlin")
    start = datetime(2026, 3, 28, tzinfo=UTC)
    spring = list(itertools.islice(daily.after(start), 3))
    # 02:30 does not exist on the 29th: it runs when the clock jumps to 03:00
    assert [t.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d %H:%M") for t in spring] == [
        "28 02:30",
        "29 03:00",
        "30 02:30",
    ]
    fall = list(itertools.islice(daily.after(datetime(2026, 10, 24, tzinfo=UTC)), 3))
    # 02:30 happens twice on the 25th: it runs the first time only
    assert [t.strftime("%d %H:%M") for t in fall] == ["24 00:30", "25 00:30", "26 01:30"]


def test_seconds_are_the_sixth_field() -> None:
    slots = CronSlots("*/20 * * * * 30", "UTC")
    got = list(itertools.islice(slots.after(datetime(2026, 1, 1, tzinfo=UTC)), 3))
    assert [t.strftime("%H:%M:%S") for t in got] == ["00:00:30", "00:20:30", "00:40:30"]


@pytest.mark.parametrize(("zone", "day"), TRANSITIONS)
def test_walks_started_near_a_transition_agree_with_the_rules(zone: str, day: datetime) -> None:
    # a walk starts at its own wall time only when no clock change is near: check starts on
    # every 11 minutes from 5 hours before the change to 5 hours after, both ways
    a = (day - timedelta(hours=12)).replace(tzinfo=UTC)
    b = (day + timedelta(hours=12)).replace(tzinfo=UTC)
    for expr in ("*/20 * * * *", "30 2 * * *", "0 * * * *"):
        slots = CronSlots(expr, zone)
        expected = reference(expr, zone, a - timedelta(days=2), b + timedelta(days=2))
        t = (day - timedelta(hours=5)).replace(tzinfo=UTC)
        while t < day.replace(tzinfo=UTC) + timedelta(hours=5):
            after = [x for x in expected if x > t][:2]
            assert list(itertools.islice(slots.after(t), 2)) == after, (zone, expr, t)
            assert slots.next_after(t) == after[0], (zone, expr, t)
            before = [x for x in expected if x <= t][-2:][::-1]
            assert list(itertools.islice(slots.until(t), 2)) == before, (zone, expr, t)
            t += timedelta(minutes=11, seconds=13)


def test_cron_slots_are_shared_and_remember() -> None:
    assert cron_slots("* * * * *", "UTC") is cron_slots("* * * * *", "UTC")
    slots = cron_slots("* * * * *", "UTC")
    start = datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert slots.next_after(start) == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    assert slots.next_after(start) is slots.next_after(start)  # remembered
