"""The Overview's data: tile values from a KPI snapshot."""

from __future__ import annotations

from agency_dashboards.data import overview


def test_tile_values_from_a_snapshot() -> None:
    snap = {
        "by_state": {"pending": 3, "running": 2, "succeeded": 10},
        "success_rate": 0.955,
        "run_p95_ms": 1234.4,
        "tasks_per_min": 12.0,
        "queue_depth": 3,
    }
    assert overview.total_tasks(snap) == 15
    assert overview.tile_value(snap, "tasks") == ("15", "2 running")
    assert overview.tile_value(snap, "success_rate")[0] == "95.5%"
    assert overview.tile_value(snap, "run_p95_ms")[0] == "1,234 ms"
    assert overview.tile_value({}, "success_rate")[0] == "-"


def test_agent_cost_and_token_tiles_from_a_snapshot() -> None:
    run = {"runs": 2, "cost_usd": 0.25, "input_tokens": 1000, "output_tokens": 200}
    snap = {
        "agents": {
            "hour": {**run, "cache_read_tokens": 50, "cache_write_tokens": 0},
            "by_model": {"gpt-5": {"cost_usd": 0.05}, "claude-sonnet-4": {"cost_usd": 1.5}},
        }
    }
    assert overview.tile_value(snap, "cost_hour") == ("$0.2500", "top today: claude-sonnet-4 $1.50")
    assert overview.tile_value(snap, "tokens_hour") == ("1,250", "2 runs, last hour")
    assert overview.tile_value({}, "cost_hour") == ("-", "last hour")
