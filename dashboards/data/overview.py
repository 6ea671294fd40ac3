"""Data of the Overview: tile values from a KPI snapshot, chart history from the samples, and
the open alerts with their actions."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from agency.client import AgencyClient

from .display import task_link
from .frames import records

HISTORY_MINUTES = 60
HISTORY_LIMIT = 100
ALERT_COLUMNS = ["id", "severity", "kind", "message", "resource", "created_at"]
HISTORY_COLUMNS = [
    "updated_at",
    "state",
    "updated_by",
    "severity",
    "kind",
    "message",
    "resource",
    "created_at",
]
LATENCY_SERIES = {"run_p50_ms": "run p50", "run_p95_ms": "run p95", "queue_p95_ms": "queue p95"}


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


def history(client: AgencyClient, minutes: int | None = HISTORY_MINUTES) -> pd.DataFrame:
    """Sampled KPIs of the last ``minutes`` (``None``: the newest the API serves), oldest
    first, ``ts`` as datetimes."""
    since = None if minutes is None else datetime.now(UTC) - timedelta(minutes=minutes)
    df = client.kpi_history(since=since)
    if df.empty:
        return df
    df = df.copy()
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    return df.sort_values("ts").reset_index(drop=True)


def open_alerts(client: AgencyClient) -> pd.DataFrame:
    """The open alerts, one row each, with ``resource`` as ``type/id``."""
    return alert_frame(records(client.alerts(state="open")), ALERT_COLUMNS)


def alert_frame(alerts: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Alerts as table rows, newest first: times as text, a task resource as a link."""
    rows = [
        {
            **a,
            "resource": _resource(a),
            "created_at": _short_time(a.get("created_at")),
            "updated_at": _short_time(a.get("updated_at")),
            "updated_by": a.get("updated_by") or "",
        }
        for a in sorted(alerts, key=lambda a: str(a.get("created_at", "")), reverse=True)
    ]
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _resource(alert: dict[str, Any]) -> str:
    rtype, rid = str(alert.get("resource_type") or ""), str(alert.get("resource_id") or "")
    if rtype == "task" and rid:
        return f"task/{task_link(rid)}"
    return html.escape(f"{rtype}/{rid}".strip("/"))


def _short_time(value: Any) -> str:
    return str(value or "")[:19].replace("T", " ")


def alert_history(client: AgencyClient, limit: int = HISTORY_LIMIT) -> pd.DataFrame:
    """Acknowledged and dismissed alerts (kept, not deleted), newest first."""
    kept = records(client.alerts(state="acknowledged", limit=limit)) + records(
        client.alerts(state="dismissed", limit=limit)
    )
    return alert_frame(kept, HISTORY_COLUMNS).head(limit)


def alert_action(client: AgencyClient, alert_id: str, action: str, reason: str = "") -> None:
    """Acknowledge or dismiss one alert; the reason (if any) goes into the audit trail."""
    why = reason.strip() or None
    if action == "acknowledge":
        client.acknowledge_alert(alert_id, why)
    elif action == "dismiss":
        client.dismiss_alert(alert_id, why)
    else:
        raise ValueError(f"unknown alert action {action!r}")


def latency_frame(history: pd.DataFrame) -> tuple[pd.DataFrame, list[str], str]:
    """The latency columns with readable names, in ms or (past 10 s) seconds, and the unit."""
    present = [c for c in LATENCY_SERIES if c in history]
    frame = history[["ts", *present]].rename(columns=LATENCY_SERIES)
    names = [LATENCY_SERIES[c] for c in present]
    peak = float(frame[names].apply(pd.to_numeric, errors="coerce").max().max()) if names else 0.0
    if not pd.isna(peak) and peak > 10_000:
        frame[names] = frame[names] / 1000.0
        return frame, names, "s"
    return frame, names, "ms"
