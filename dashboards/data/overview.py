"""Data of the Overview: tile values from a KPI snapshot, chart history from the samples, and
the open alerts with their actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from agency.client import AgencyClient

from .frames import records

HISTORY_MINUTES = 60
ALERT_COLUMNS = ["id", "severity", "kind", "message", "resource", "created_at"]


def fmt_number(value: Any, digits: int = 0, suffix: str = "") -> str:
    """A KPI value for a tile; ``None`` (no data in the window yet) shows as a dash."""
    if value is None:
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:,.{digits}f}"
    return f"{text}{suffix}"


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


def agent_cost(snapshot: dict[str, Any], key: str) -> tuple[str, str]:
    """``cost_hour``/``tokens_hour``: agent runs of the last hour (``agents`` of the snapshot),
    noted with the model that cost the most today."""
    agents: dict[str, Any] = snapshot.get("agents") or {}
    hour: dict[str, Any] = agents.get("hour") or {}
    models: dict[str, dict[str, Any]] = agents.get("by_model") or {}
    top = max(models.items(), key=lambda kv: kv[1].get("cost_usd", 0), default=None)
    note = f"top today: {top[0]} ${top[1].get('cost_usd', 0):,.2f}" if top else "last hour"
    if not hour:
        return "-", note
    if key == "cost_hour":
        return f"${hour.get('cost_usd', 0):,.4f}", note
    tokens = sum(int(hour.get(f"{k}_tokens", 0)) for k in ("input", "output", "cache_read", "cache_write"))
    return fmt_number(tokens), f"{int(hour.get('runs', 0)):,} runs, last hour"


def tile_value(snapshot: dict[str, Any], key: str) -> tuple[str, str]:
    """The text of one tile and its small note."""
    if key in ("cost_hour", "tokens_hour"):
        return agent_cost(snapshot, key)
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


def open_alerts(client: AgencyClient) -> pd.DataFrame:
    """The open alerts, one row each, with ``resource`` as ``type/id``."""
    rows = [
        {
            **a,
            "resource": f"{a.get('resource_type', '')}/{a.get('resource_id', '')}".strip("/"),
            "created_at": str(a.get("created_at", ""))[:19].replace("T", " "),
        }
        for a in records(client.alerts(state="open"))
    ]
    return (
        pd.DataFrame(rows, columns=ALERT_COLUMNS) if rows else pd.DataFrame(columns=ALERT_COLUMNS)
    )


def alert_action(client: AgencyClient, alert_id: str, action: str) -> None:
    """Acknowledge or dismiss one alert."""
    if action == "acknowledge":
        client.acknowledge_alert(alert_id)
    elif action == "dismiss":
        client.dismiss_alert(alert_id)
    else:
        raise ValueError(f"unknown alert action {action!r}")
