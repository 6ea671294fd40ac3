"""Data of the Audit page: a search of the audit trail, and the hash chain's verification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from agency.client import AgencyClient

from .frames import one, records
from .times import aware

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


@dataclass(frozen=True)
class AuditFilter:
    """What the search form says; empty values filter nothing."""

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
    """The server's check of the audit hash chain: ``ok``, ``checked``, the first bad event."""
    return one(client.verify_audit())
