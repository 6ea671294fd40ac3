"""Rows out of what the client returns: DataFrames, pages of models, or lists of models."""

from __future__ import annotations

from typing import Any

import pandas as pd


def records(value: Any) -> list[dict[str, Any]]:
    """Plain dicts, one per row, whatever shape the client answered with."""
    if isinstance(value, pd.DataFrame):
        return [{str(k): v for k, v in row.items()} for row in value.to_dict("records")]
    items = getattr(value, "items", value)
    return [one(i) for i in items]


def one(value: Any) -> dict[str, Any]:
    """One model (or mapping) as a JSON-ready dict."""
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else dict(value)
