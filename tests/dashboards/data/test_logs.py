"""The log of the drill-down: both streams as timed lines, partial lines, search, download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agency_dashboards.data.logs import MAX_LINES, LogBuffer

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_streams_interleave_in_arrival_order_with_partial_lines_held() -> None:
    log = LogBuffer()
    log.add("stdout", "one\ntw", T0)
    log.add("stderr", "boom: widget not found\n", T0 + timedelta(seconds=1))
    log.add("stdout", "o\n", T0 + timedelta(seconds=2))
    assert [(l.stream, l.text) for l in log.lines] == [
        ("stdout", "one"),
        ("stderr", "boom: widget not found"),
        ("stdout", "two"),
    ]
    assert log.lines[2].ts == T0  # a line is as old as its first byte
    log.add("stderr", "no newline yet", T0)
    assert log.matching()[-1].text == "no newline yet"  # shown while it waits
    log.close("stderr")
    assert log.lines[-1].text == "no newline yet" and not log.partial


def test_search_download_and_rows() -> None:
    log = LogBuffer()
    log.add("stdout", "alpha\nBeta\n", T0)
    log.add("stderr", "beta failed\n", T0)
    assert [l.text for l in log.matching("BETA")] == ["Beta", "beta failed"]
    assert log.text("failed") == "2026-01-02T03:04:05.678+00:00 stderr beta failed\n"
    assert log.rows()[0] == ["03:04:05.678", T0.isoformat(), "stdout", "alpha"]


def test_the_buffer_is_bounded() -> None:
    log = LogBuffer()
    log.add("stdout", "x\n" * (MAX_LINES + 10), T0)
    assert len(log.lines) == MAX_LINES
