"""Data of the operational pages: alerts, workers, audit trail, health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from agency.client import AgencyClient
from dashboards.frames import one, records
from dashboards.tasks_data import aware

ALERT_COLUMNS = ["id", "severity", "kind", "message", "resource", "created_at"]
WORKER_COLUMNS = [
    "id",
    "health",
    "breaker",
    "slots",
    "labels",
    "last_heartbeat",
    "heartbeat_age_s",
    "recent_failures",
    "kinds",
    "url",
    "version",
]
AUDIT_FETCH = 1000  # the most the API returns per page
AUDIT_COLUMNS = [
    "seq",
    "ts",
    "actor",
    "action",
    "resource_type",
    "resource_id",
    "verdict",
    "details",
]


def open_alerts(client: AgencyClient) -> pd.DataFrame:
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
    if action == "acknowledge":
        client.acknowledge_alert(alert_id)
    elif action == "dismiss":
        client.dismiss_alert(alert_id)
    else:
        raise ValueError(f"unknown alert action {action!r}")


def workers(client: AgencyClient, now: datetime | None = None) -> pd.DataFrame:
    """Every worker with its slots as ``running/capacity`` and its heartbeat age."""
    now = now or datetime.now(UTC)
    rows = []
    for w in records(client.workers()):
        beat = _instant(w.get("last_heartbeat"))
        rows.append(
            {
                **w,
                "slots": f"{w.get('running', 0)}/{w.get('capacity', 0)}",
                "labels": ", ".join(f"{k}={v}" for k, v in sorted((w.get("labels") or {}).items())),
                "kinds": ", ".join(w.get("kinds") or []),
                "last_heartbeat": beat.strftime("%H:%M:%S") if beat is not None else "never",
                "heartbeat_age_s": round((now - beat.to_pydatetime()).total_seconds(), 1)
                if beat is not None
                else None,
            }
        )
    return (
        pd.DataFrame(rows, columns=WORKER_COLUMNS) if rows else pd.DataFrame(columns=WORKER_COLUMNS)
    )


def _instant(value: Any) -> pd.Timestamp | None:
    """A time from the client (text or datetime, maybe NaT) as a UTC timestamp, or None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def drain_worker(client: AgencyClient, worker_id: str) -> None:
    client.drain_worker(worker_id, reason="drained from the dashboard")


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    resource: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200


def audit(client: AgencyClient, flt: AuditFilter) -> pd.DataFrame:
    """Matching events, newest first; ``resource`` is ``type`` or ``type/id``.

    The API pages oldest first, so the page asks from ``since`` (the form's default is the
    last 15 minutes) and shows the newest ``limit`` of that first page.
    """
    args: dict[str, Any] = {}
    if flt.action.strip():
        args["action"] = flt.action.strip()
    if flt.actor.strip():
        args["actor"] = flt.actor.strip()
    if flt.resource.strip():
        rtype, _, rid = flt.resource.strip().partition("/")
        args["resource_type"] = rtype
        if rid:
            args["resource_id"] = rid
    if flt.since is not None:
        args["since"] = aware(flt.since)
    if flt.until is not None:
        args["until"] = aware(flt.until)
    page = client.audit_page(limit=AUDIT_FETCH, **args)
    rows = records(page.items)[-flt.limit :][::-1]
    for r in rows:
        r["ts"] = str(r.get("ts", ""))[:23].replace("T", " ")
        r["details"] = ", ".join(f"{k}={v}" for k, v in (r.get("details") or {}).items())
    return (
        pd.DataFrame(rows, columns=AUDIT_COLUMNS) if rows else pd.DataFrame(columns=AUDIT_COLUMNS)
    )


def verify(client: AgencyClient) -> dict[str, Any]:
    return one(client.verify_audit())


def health(client: AgencyClient) -> tuple[str, pd.DataFrame]:
    """Overall status and one row per component, as ``GET /health`` says."""
    data = one(client.health())
    rows = [
        {
            "component": name,
            "status": c.get("status"),
            "reason": c.get("reason") or "",
            "details": ", ".join(f"{k}={v}" for k, v in (c.get("details") or {}).items()),
        }
        for name, c in (data.get("components") or {}).items()
    ]
    return str(data.get("status")), pd.DataFrame(
        rows, columns=["component", "status", "reason", "details"]
    )
