"""Data of the Health page: the components of ``GET /health``."""

from __future__ import annotations

import pandas as pd

from agency.client import AgencyClient

from .frames import one

HEALTH_COLUMNS = ["component", "status", "reason", "details"]


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
    return str(data.get("status")), pd.DataFrame(rows, columns=HEALTH_COLUMNS)
