"""The shared time range: presets, where each starts, how it limits a page's own filter,
its address parameter, and its watchers (called once per change, coroutines awaited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agency_dashboards.data import tasks as td
from agency_dashboards.timerange import TimeRange

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def test_presets_start_where_they_say_and_all_limits_nothing() -> None:
    rng = TimeRange()
    assert rng.key == "all" and rng.since(NOW) is None and rng.params() == {}
    assert rng.describe() == "all time" and rng.minutes() is None
    seen: list[str] = []

    async def moved() -> None:
        seen.append(rng.key)

    rng.watch(moved)
    rng.watch(lambda: seen.append("sync"))
    assert await rng.set("1h") is True
    assert await rng.set("1h") is False  # no change, no call
    assert seen == ["1h", "sync"]
    assert rng.since(NOW) == NOW - timedelta(hours=1) and rng.minutes() == 60
    assert rng.params() == {"range": "1h"} and rng.describe() == "last 1 h"
    assert await rng.set("bogus") is True and rng.key == "all"  # unknown: back to all
    rng.load("7d")
    assert rng.key == "7d" and seen == ["1h", "sync", "all", "sync"]  # load tells nobody


async def test_the_range_narrows_a_pages_own_after_filter_never_widens_it() -> None:
    rng = TimeRange("15m")
    start = NOW - timedelta(minutes=15)
    assert rng.clamp(None, NOW) == start
    assert rng.clamp(NOW - timedelta(days=1), NOW) == start  # the range is later
    assert rng.clamp(NOW - timedelta(minutes=1), NOW) == NOW - timedelta(minutes=1)
    assert TimeRange().clamp(NOW, NOW) == NOW
    flt = td.TaskFilter(created_after=rng.clamp(None, NOW))
    assert flt.query()["created_after"] == start  # what the list asks the API for
