"""The Queries page's data: parameters and charts."""

from __future__ import annotations

import pandas as pd
import pytest

from agency_dashboards.data import queries as qd


def test_query_params_and_charts() -> None:
    assert qd.parse_params("state=running, limit=10, ratio=0.5") == {
        "state": "running",
        "limit": 10,
        "ratio": 0.5,
    }
    with pytest.raises(ValueError, match="name=value"):
        qd.parse_params("oops")
    assert qd.chart_for(pd.DataFrame({"state": ["a", "b"], "n": [1, 2]})) is not None
    assert qd.chart_for(pd.DataFrame({"n": [1, 2]})) is None
    assert qd.chart_for(pd.DataFrame({"state": ["a"] * 500, "n": range(500)})) is None
