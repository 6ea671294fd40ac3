"""Instants out of date pickers and client values."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd

from agency_dashboards.data.times import aware, instant, when


def test_when_keeps_datetimes_only() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5)
    assert when(moment) is moment
    assert when(date(2026, 1, 2)) is None
    assert when(None) is None


def test_aware_leaves_instants_and_localizes_naive_times() -> None:
    utc = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert aware(utc) is utc
    local = aware(datetime(2026, 1, 2, 3, 4, 5))
    assert local.tzinfo is not None and local.replace(tzinfo=None) == datetime(2026, 1, 2, 3, 4, 5)


def test_instant_reads_text_datetimes_and_gaps_as_utc() -> None:
    assert instant("2026-01-02T03:04:05Z") == pd.Timestamp("2026-01-02T03:04:05", tz="UTC")
    assert instant(datetime(2026, 1, 2, 3, 4, 5)) == pd.Timestamp("2026-01-02T03:04:05", tz="UTC")
    assert instant(None) is None
    assert instant(pd.NaT) is None
