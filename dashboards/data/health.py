"""Data of the Health page: the components of ``GET /health``."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from agency.client import AgencyClient

from .display import kv_table, kv_text
from .frames import one

HEALTH_COLUMNS = ["component", "status", "reason", "details"]


def health(client: AgencyClient) -> tuple[str, pd.DataFrame]:
    """Overall status and one row per component, as ``GET /health`` says."""
    return _rows(one(client.health()))


def _rows(data: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    rows = [
        {
            "component": name,
            "status": c.get("status"),
            "reason": c.get("reason") or "",
            "details": kv_text(c.get("details")),
        }
        for name, c in (data.get("components") or {}).items()
    ]
    return str(data.get("status")), pd.DataFrame(rows, columns=HEALTH_COLUMNS)


def details_html(client_answer: dict[str, Any]) -> str:
    """Each component's details as a key/value table under its name."""
    parts = [
        f'<div style="display:inline-block;vertical-align:top;margin:0 24px 12px 0">'
        f"<b>{html.escape(name)}</b> ({html.escape(str(c.get('status')))})"
        f"{kv_table(c.get('details'), 'kv-table health-kv')}</div>"
        for name, c in (client_answer.get("components") or {}).items()
    ]
    return "".join(parts)


def health_with_details(client: AgencyClient) -> tuple[str, pd.DataFrame, str]:
    """``health`` and the details tables, from one read."""
    answer = one(client.health())
    status, frame = _rows(answer)
    return status, frame, details_html(answer)
