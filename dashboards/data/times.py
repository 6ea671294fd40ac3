"""Instants out of what the widgets hold and the client returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd


def when(value: object) -> datetime | None:
    """A date picker's value as a datetime (pickers may hold a date or nothing)."""
    return value if isinstance(value, datetime) else None


def aware(value: datetime) -> datetime:
    """Date pickers give naive local times; the API wants an instant."""
    return value if value.tzinfo is not None else value.astimezone()


def instant(value: Any) -> pd.Timestamp | None:
    """A time from the client (text or datetime, maybe NaT) as a UTC timestamp, or None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
