"""KPI data for the Overview: tile values from a snapshot, chart history from the samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from dashboards.ui import fmt_number

HISTORY_MINUTES = 60


def total_tasks(snapshot: dict[str, Any]) -> int | None:
    """Every task the control plane knows, from the per-state counts."""
    by_state = snapshot.get("by_state")
    if isinstance(by_state, dict):
        return int(sum(int(v or 0) for v in by_state.values()))
    total = snapshot.get("tasks_total")
    return int(total) if total is not None else None


def _flat(snapshot: dict[str, Any], key: str) -> Any:
    """A KPI from the 1-minute window when the snapshot nests windows, else the flat value."""
    if key in snapshot:
        return snapshot[key]
    windows = snapshot.get("windows") or {}
    one = windows.get("1m") if isinstance(windows, dict) else None
    return one.get(key) if isinstance(one, dict) else None


def tile_value(snapshot: dict[str, Any], key: str) -> tuple[str, str]:
    """The text of one tile and its small note."""
    if key == "tasks":
        by_state = snapshot.get("by_state") or {}
        running = int(by_state.get("running", 0) or 0) if isinstance(by_state, dict) else 0
        return fmt_number(total_tasks(snapshot)), f"{running:,} running"
    value = _flat(snapshot, key)
    if key == "success_rate":
        return (fmt_number(value * 100, 1, "%") if value is not None else "-"), "last minute"
    if key == "run_p95_ms":
        return fmt_number(value, 0, " ms"), "run time, last minute"
    if key == "tasks_per_min":
        return fmt_number(value, 1), "finished, last minute"
    return fmt_number(value), ""


def history(client: AgencyClient, minutes: int = HISTORY_MINUTES) -> pd.DataFrame:
    """Sampled KPIs of the last ``minutes``, oldest first, ``ts`` as datetimes."""
    since = datetime.now(UTC) - timedelta(minutes=minutes)
    df = client.kpi_history(since=since)
    if df.empty:
        return df
    df = df.copy()
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    return df.sort_values("ts").reset_index(drop=True)
