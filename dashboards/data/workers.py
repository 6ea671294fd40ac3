"""Data of the Workers page: each worker in display form, and draining one."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from agency.client import AgencyClient

from .frames import records
from .times import instant

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
    "protocol",
    "tls",
    "agent_state",
    "current_task",
]


def tls_label(url: str, tls: object) -> str:
    """How the worker's certificate is checked: plain, system CAs, CA file, pinned, unverified."""
    if not url.startswith("https://"):
        return "plain http"
    if not isinstance(tls, dict):
        return "system CAs"
    if tls.get("fingerprint"):
        return "pinned"
    if tls.get("verify") is False:
        return "unverified"
    return "CA file" if tls.get("ca_file") else "system CAs"


def workers(client: AgencyClient, now: datetime | None = None) -> pd.DataFrame:
    """Every worker with its slots as ``running/capacity`` and its heartbeat age."""
    now = now or datetime.now(UTC)
    rows = []
    for w in records(client.workers()):
        beat = instant(w.get("last_heartbeat"))
        rows.append(
            {
                **w,
                "slots": f"{w.get('running', 0)}/{w.get('capacity', 0)}",
                "labels": ", ".join(f"{k}={v}" for k, v in sorted((w.get("labels") or {}).items())),
                "kinds": ", ".join(w.get("kinds") or []),
                "protocol": w.get("protocol") or "agency",
                "tls": tls_label(str(w.get("url") or ""), w.get("tls")),
                "last_heartbeat": beat.strftime("%H:%M:%S") if beat is not None else "never",
                "heartbeat_age_s": round((now - beat.to_pydatetime()).total_seconds(), 1)
                if beat is not None
                else None,
            }
        )
    return (
        pd.DataFrame(rows, columns=WORKER_COLUMNS) if rows else pd.DataFrame(columns=WORKER_COLUMNS)
    )


def drain_worker(client: AgencyClient, worker_id: str, reason: str = "") -> None:
    """Ask the worker to take no new tasks and leave once the running ones end; the reason
    (the operator's, else a note that it came from the dashboard) goes into the audit trail."""
    client.drain_worker(worker_id, reason=reason.strip() or "drained from the dashboard")
