"""Data of the Audit page: a search of the audit trail, and the hash chain's verification."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from agency.client import AgencyClient

from .display import kv_text, task_link
from .frames import one, records
from .times import aware

PAGE_SIZE = 100
DETAILS_CUT = 240  # the table's cell; the selected event shows all of it as a table
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


@dataclass(frozen=True)
class AuditFilter:
    """What the search form says; empty values filter nothing."""

    action: str = ""
    actor: str = ""
    resource: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = PAGE_SIZE


@dataclass
class AuditRows:
    """One page of events, newest first, and the cursor of the next (older) page."""

    rows: pd.DataFrame
    details: list[dict[str, Any]]
    next_cursor: str | None


def audit(client: AgencyClient, flt: AuditFilter, cursor: str | None = None) -> AuditRows:
    """One page of matching events, newest first (the API reads them in that order, so the
    newest event is on the first page however many there are); ``cursor`` pages older."""
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
    page = client.audit_page(limit=flt.limit, cursor=cursor, newest_first=True, **args)
    rows = records(page.items)
    details = [dict(r.get("details") or {}) for r in rows]
    for r in rows:
        r["ts"] = str(r.get("ts", ""))[:23].replace("T", " ")
        r["details"] = kv_text(r.get("details"), DETAILS_CUT)
        if r.get("resource_type") == "task" and r.get("resource_id"):
            r["resource_id"] = task_link(str(r["resource_id"]))
        else:
            r["resource_id"] = html.escape(str(r.get("resource_id") or ""))
    frame = (
        pd.DataFrame(rows, columns=AUDIT_COLUMNS) if rows else pd.DataFrame(columns=AUDIT_COLUMNS)
    )
    return AuditRows(frame, details, page.next_cursor)


def verify(client: AgencyClient) -> dict[str, Any]:
    """The server's check of the audit hash chain: ``ok``, ``checked``, the first bad event."""
    return one(client.verify_audit())
